const { NxAppWebpackPlugin } = require('@nx/webpack/app-plugin');
const { join } = require('path');

/**
 * The webpack configuration every app shares: a Node bundle of `<app>/src/main.ts`, built
 * with tsc into dist/apps/<app> with a generated package.json (each app its own artifact).
 * `nx` adds to or replaces the NxAppWebpackPlugin options; `externals` and `plugins` are the
 * app's own. A change here rebuilds every app (nx.json's sharedGlobals).
 */
function nodeAppWebpackConfig(appDir, { nx = {}, externals, plugins = [] } = {}) {
  const app = appDir.split(/[/\\]/).pop();
  return {
    output: {
      path: join(appDir, '../../dist/apps', app),
      clean: true,
      ...(process.env.NODE_ENV !== 'production' && {
        devtoolModuleFilenameTemplate: '[absolute-resource-path]',
      }),
    },
    ...(externals && { externals }),
    plugins: [
      new NxAppWebpackPlugin({
        target: 'node',
        compiler: 'tsc',
        // Types are checked once for the whole workspace (`npx nx typecheck workspace`, part of npm test),
        // not by a checker process per app build.
        typeCheckOptions: false,
        main: './src/main.ts',
        tsConfig: './tsconfig.app.json',
        assets: ['./src/assets'],
        optimization: false,
        outputHashing: 'none',
        generatePackageJson: true,
        sourceMap: true,
        ...nx,
      }),
      ...plugins,
    ],
  };
}

module.exports = { nodeAppWebpackConfig };
