const { NxAppWebpackPlugin } = require('@nx/webpack/app-plugin');
const { join } = require('path');

module.exports = {
  output: {
    path: join(__dirname, '../../dist/apps/classifier-worker'),
    clean: true,
    ...(process.env.NODE_ENV !== 'production' && {
      devtoolModuleFilenameTemplate: '[absolute-resource-path]',
    }),
  },
  // The native backend is optional and usually not installed at build time: left to
  // run time (a plain externals entry would be replaced by the plugin's own list).
  externals: [{ '@tensorflow/tfjs-node': 'commonjs @tensorflow/tfjs-node' }],
  plugins: [
    new NxAppWebpackPlugin({
      target: 'node',
      compiler: 'tsc',
      main: './src/main.ts',
      // The model runs in a worker thread whose code is this second bundle, found
      // beside main.js at run time (libs/classifier engine.ts).
      additionalEntryPoints: [{ entryName: 'inference-thread', entryPath: 'libs/classifier/src/lib/inference-thread.ts' }],
      tsConfig: './tsconfig.app.json',
      assets: ['./src/assets'],
      optimization: false,
      outputHashing: 'none',
      generatePackageJson: true,
      mergeExternals: true,
      sourceMap: true,
    }),
  ],
};
