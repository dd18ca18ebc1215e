/**
 * Builds `ics` as its own artifact: one bundled file (commander, cli-progress,
 * retry and the api-client inside, so installing it fetches nothing) with a
 * package.json whose bin is `ics`, packed as dist/packages/ics-cli.tgz for
 * `npm install dist/packages/ics-cli.tgz` (or `npm install -g`).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const outDir = join(root, 'dist/apps/cli');
const packages = join(root, 'dist/packages');
const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
await build({
  entryPoints: [join(root, 'apps/cli/src/main.ts')],
  outfile: join(outDir, 'ics.js'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  tsconfig: join(root, 'tsconfig.base.json'),
  legalComments: 'eof',
  logLevel: 'warning',
});
chmodSync(join(outDir, 'ics.js'), 0o755);
writeFileSync(
  join(outDir, 'package.json'),
  JSON.stringify(
    {
      name: 'ics-cli',
      version: rootPkg.version === '0.0.0' ? '0.1.0' : rootPkg.version,
      description: 'Command-line client of the elastic image classification service',
      license: rootPkg.license,
      bin: { ics: 'ics.js' },
      files: ['ics.js'],
      engines: rootPkg.engines,
    },
    null,
    2,
  ) + '\n',
);
mkdirSync(packages, { recursive: true });
const packed = execFileSync('npm', ['pack', outDir, '--pack-destination', packages, '--silent'], { encoding: 'utf8' }).trim().split('\n').pop();
renameSync(join(packages, packed), join(packages, 'ics-cli.tgz'));
console.log(`ics: ${join('dist/packages', 'ics-cli.tgz')}`);
