import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { defaultNodeImage, formatBytes, imageSpec, WORK_DIR, WORKSPACE_ROOT, type ImageName } from './catalogue';
import type { Engine } from './engine';
import { ensureOfflineBase } from './offline-base';
import { onPath, run } from './run';

export interface BaseChoice {
  /** What the Dockerfiles build FROM (NODE_IMAGE). */
  image: string;
  offline: boolean;
  cached?: boolean;
  seconds?: number;
}

export interface BuiltImage {
  name: ImageName;
  tag: string;
  ok: boolean;
  seconds: number;
  sizeBytes?: number;
  log: string;
  error?: string;
}

/** The worker image against its budget: 1.5 × (its artifact with node_modules + the Node binary). */
export interface WorkerBudget {
  imageBytes: number;
  artifactBytes: number;
  nodeBytes: number;
  limitBytes: number;
  /** imageBytes / (artifactBytes + nodeBytes): at most WORKER_BUDGET_FACTOR. */
  ratio: number;
  within: boolean;
}

export const WORKER_BUDGET_FACTOR = 1.5;

export function workerBudget(imageBytes: number, artifactBytes: number, nodeBytes: number): WorkerBudget {
  const limitBytes = Math.round(WORKER_BUDGET_FACTOR * (artifactBytes + nodeBytes));
  const ratio = Math.round((imageBytes / (artifactBytes + nodeBytes)) * 100) / 100;
  return { imageBytes, artifactBytes, nodeBytes, limitBytes, ratio, within: imageBytes <= limitBytes };
}

/**
 * The pinned base when it can be pulled, else the offline base (assembled once per set of
 * inputs). Throws with what is missing when neither is possible.
 */
export async function chooseBase(engine: Engine, o: { nodeImage?: string; offlineBase: boolean }, log: (line: string) => void): Promise<BaseChoice> {
  if (o.nodeImage) return { image: o.nodeImage, offline: false };
  const pinned = defaultNodeImage(readFileSync(imageSpec('web-tier').dockerfile, 'utf8'));
  if (!o.offlineBase) {
    log(`base: trying to pull ${pinned}`);
    if (await engine.canPull(pinned)) return { image: pinned, offline: false };
    log('base: the pinned base cannot be pulled (no registry reachable): assembling it offline');
  }
  const missing = ['debootstrap', 'npm', 'tar'].filter((p) => !onPath(p));
  if (missing.length) {
    throw new Error(
      `cannot assemble the offline base: ${missing.join(', ')} not installed` +
        (missing.includes('debootstrap') ? ' (Debian/Ubuntu: `sudo apt-get install -y debootstrap`)' : ''),
    );
  }
  if (process.getuid?.() !== 0) throw new Error('cannot assemble the offline base: debootstrap needs root (run as root, or pass --node-image)');
  const base = await ensureOfflineBase(engine, WORK_DIR, log);
  log(base.cached ? `base: ${base.tag} (cached)` : `base: ${base.tag} assembled in ${base.seconds.toFixed(0)} s`);
  return { image: base.tag, offline: true, cached: base.cached, seconds: base.seconds };
}

function revision(): string {
  const r = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: WORKSPACE_ROOT, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

export type ContextSource = 'head' | 'working-tree';

/**
 * The build context. `head`: the committed tree, exported with `git archive` into its own folder
 * (once per commit), so a build sees what a fresh clone has, never a half-saved edit of the
 * working tree. `working-tree`: the repository folder as it is.
 */
export async function prepareContext(source: ContextSource, log: (line: string) => void): Promise<{ dir: string; revision: string }> {
  const rev = revision();
  if (source === 'working-tree' || rev === 'unknown') return { dir: WORKSPACE_ROOT, revision: rev === 'unknown' ? rev : `${rev}+working-tree` };
  const dir = join(WORK_DIR, `context-${rev.slice(0, 12)}`);
  if (!existsSync(join(dir, 'package.json'))) {
    for (const old of readdirSync(WORK_DIR).filter((d) => d.startsWith('context-'))) rmSync(join(WORK_DIR, old), { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    await run('sh', ['-c', 'git -C "$1" archive --format=tar HEAD | tar -x -C "$2"', 'sh', WORKSPACE_ROOT, dir]);
  }
  log(`context: the committed tree at ${rev.slice(0, 12)} (${dir})`);
  return { dir, revision: rev };
}

export async function buildImages(
  engine: Engine,
  names: ImageName[],
  base: BaseChoice,
  context: { dir: string; revision: string },
  log: (line: string) => void,
  signal?: AbortSignal,
): Promise<BuiltImage[]> {
  const logDir = join(WORK_DIR, 'logs');
  mkdirSync(logDir, { recursive: true });
  const buildArgs: Record<string, string> = { REVISION: context.revision };
  if (base.offline || base.image !== defaultNodeImage(readFileSync(imageSpec('web-tier').dockerfile, 'utf8'))) buildArgs['NODE_IMAGE'] = base.image;
  // The offline base stands in for a machine without a route to tfjs-node's download host.
  if (base.offline) buildArgs['TFJS_NODE'] = 'skip';
  // npm sets npm_config_cache for the scripts it runs; the default otherwise.
  const npmCache = process.env['npm_config_cache'] || join(homedir(), '.npm');
  const built: BuiltImage[] = [];
  for (const name of names) {
    if (signal?.aborted) break;
    const spec = imageSpec(name, context.dir);
    const logFile = join(logDir, `${name}.log`);
    writeFileSync(logFile, '');
    log(`${name}: building ${spec.tag} with ${engine.name} (log: ${logFile})`);
    const started = Date.now();
    try {
      await engine.build({ dockerfile: spec.dockerfile, ignoreFile: spec.ignoreFile, context: context.dir, tag: spec.tag, buildArgs, logFile, npmCache, signal });
      const seconds = (Date.now() - started) / 1000;
      const sizeBytes = await engine.imageSize(spec.tag);
      built.push({ name, tag: spec.tag, ok: true, seconds, sizeBytes, log: logFile });
      log(`${name}: ${spec.tag} ${formatBytes(sizeBytes)}, built in ${seconds.toFixed(0)} s`);
    } catch (err) {
      const seconds = (Date.now() - started) / 1000;
      const error = (err as Error).message;
      built.push({ name, tag: spec.tag, ok: false, seconds, log: logFile, error });
      log(`${name}: FAILED after ${seconds.toFixed(0)} s: ${error}`);
    }
  }
  return built;
}

/**
 * One `npm run images` at a time on this machine: a stopped build removes the step containers
 * that appeared while it ran, which must not be another build's. Returns a release function, or
 * the pid of the run that holds the lock (a lock whose process is gone is taken over).
 */
export function takeBuildLock(file: string, pid = process.pid, alive: (pid: number) => boolean = processAlive): (() => void) | { heldBy: number } {
  mkdirSync(dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(pid), { flag: 'wx' });
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(file, 'utf8'));
      if (Number.isInteger(holder) && holder > 0 && alive(holder)) return { heldBy: holder };
      rmSync(file, { force: true });
    }
  }
  return { heldBy: Number(readFileSync(file, 'utf8')) };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Measures the built worker image against its budget. */
export async function checkWorkerBudget(engine: Engine, worker: BuiltImage): Promise<WorkerBudget> {
  const [artifactBytes, nodeBytes] = await engine.diskUsage(worker.tag, ['/app', '/usr/local/bin/node']);
  return workerBudget(worker.sizeBytes ?? 0, artifactBytes, nodeBytes);
}
