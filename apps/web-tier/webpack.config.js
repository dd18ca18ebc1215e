const { nodeAppWebpackConfig } = require('../../tools/webpack/node-app');
const { join, resolve } = require('path');
const { readFileSync } = require('fs');

/**
 * Bundles the upload page (src/page/*.ts, plain DOM code) with esbuild and
 * emits it with its HTML and CSS as assets of this build, under page/ next to
 * main.js. Emitting through webpack (rather than writing files beside it) keeps
 * them safe from output.clean and rebuilt in watch mode.
 */
class PageBundlePlugin {
  constructor(options) {
    this.srcDir = options.srcDir;
    this.outDir = options.outDir;
  }

  apply(compiler) {
    const { Compilation, sources } = compiler.webpack;
    compiler.hooks.thisCompilation.tap('PageBundlePlugin', (compilation) => {
      compilation.hooks.processAssets.tapPromise(
        { name: 'PageBundlePlugin', stage: Compilation.PROCESS_ASSETS_STAGE_ADDITIONAL },
        async () => {
          const esbuild = require('esbuild');
          const production = compiler.options.mode === 'production';
          const result = await esbuild.build({
            entryPoints: [join(this.srcDir, 'main.ts')],
            bundle: true,
            write: false,
            format: 'iife',
            target: ['es2020'],
            platform: 'browser',
            minify: production,
            sourcemap: production ? false : 'linked',
            outfile: join(this.outDir, 'page.js'),
            metafile: true,
            logLevel: 'silent',
          });
          for (const w of result.warnings) compilation.warnings.push(new compiler.webpack.WebpackError(`page: ${w.text}`));
          for (const file of result.outputFiles) {
            const name = `${this.outDir}/${file.path.split(/[/\\]/).pop()}`;
            compilation.emitAsset(name, new sources.RawSource(Buffer.from(file.contents)));
          }
          for (const input of Object.keys(result.metafile.inputs)) compilation.fileDependencies.add(resolve(input));
          for (const name of ['index.html', 'styles.css']) {
            const path = join(this.srcDir, name);
            compilation.emitAsset(`${this.outDir}/${name}`, new sources.RawSource(readFileSync(path)));
            compilation.fileDependencies.add(path);
          }
        },
      );
    });
  }
}

module.exports = nodeAppWebpackConfig(__dirname, {
  plugins: [new PageBundlePlugin({ srcDir: join(__dirname, 'src/page'), outDir: 'page' })],
});
