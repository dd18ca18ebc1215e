import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { onPath, run } from './run';

export interface BuildRequest {
  dockerfile: string;
  ignoreFile?: string;
  context: string;
  tag: string;
  buildArgs: Record<string, string>;
  logFile: string;
  /** This machine's npm cache folder, lent to the build's installs where the engine can (buildah). */
  npmCache?: string;
  /** Aborted on Ctrl-C: the build is stopped and what it left behind removed. */
  signal?: AbortSignal;
}

export interface ImageConfig {
  env: Record<string, string>;
  labels: Record<string, string>;
  cmd: string[];
}

/** What the image tools need from a container engine: docker when an engine answers, else buildah. */
export interface Engine {
  readonly name: 'docker' | 'buildah';
  imageExists(tag: string): Promise<boolean>;
  /** Whether `ref` can be pulled (or is already here). */
  canPull(ref: string): Promise<boolean>;
  build(req: BuildRequest): Promise<void>;
  /** Size of the image in bytes, all layers. */
  imageSize(tag: string): Promise<number>;
  /** Commits a root file system folder as an image with that configuration. */
  importRootfs(rootfs: string, tag: string, config: ImageConfig, logFile: string): Promise<void>;
  /** Copies an image of that tag from another storage of the same engine, if one has it. */
  adoptImage?(tag: string, logFile: string): Promise<boolean>;
  /** Bytes under each absolute path inside the image (`du -sb`). */
  diskUsage(tag: string, paths: string[]): Promise<number[]>;
}

function parseDu(out: string, count: number): number[] {
  const sizes = out.trim().split('\n').map((l) => Number(l.split(/\s+/)[0]));
  if (sizes.length !== count || sizes.some((n) => !Number.isFinite(n))) throw new Error(`unexpected du output: ${out}`);
  return sizes;
}

export class DockerEngine implements Engine {
  readonly name = 'docker';

  async imageExists(tag: string): Promise<boolean> {
    return spawnSync('docker', ['image', 'inspect', tag], { stdio: 'ignore' }).status === 0;
  }

  async canPull(ref: string): Promise<boolean> {
    if (await this.imageExists(ref)) return true;
    return spawnSync('docker', ['pull', ref], { stdio: 'ignore', timeout: 120_000 }).status === 0;
  }

  async build(req: BuildRequest): Promise<void> {
    const args = ['build', '-f', req.dockerfile, '-t', req.tag];
    for (const [k, v] of Object.entries(req.buildArgs)) args.push('--build-arg', `${k}=${v}`);
    await run('docker', [...args, req.context], { logFile: req.logFile, stampLog: true, signal: req.signal, env: { ...process.env, DOCKER_BUILDKIT: '1' } });
  }

  async imageSize(tag: string): Promise<number> {
    return Number((await run('docker', ['image', 'inspect', '-f', '{{.Size}}', tag])).trim());
  }

  async importRootfs(rootfs: string, tag: string, config: ImageConfig, logFile: string): Promise<void> {
    const changes = [
      ...Object.entries(config.env).map(([k, v]) => `ENV ${k}=${v}`),
      ...Object.entries(config.labels).map(([k, v]) => `LABEL ${k}=${JSON.stringify(v)}`),
      `CMD ${JSON.stringify(config.cmd)}`,
    ].flatMap((c) => ['--change', c]);
    await run('sh', ['-c', `tar -C "$1" -c . | docker import ${changes.map(shellQuote).join(' ')} - "$2"`, 'sh', rootfs, tag], { logFile });
  }

  async diskUsage(tag: string, paths: string[]): Promise<number[]> {
    return parseDu(await run('docker', ['run', '--rm', '--network', 'none', '--entrypoint', 'du', tag, '-sb', ...paths]), paths.length);
  }
}

/** Where and how buildah stores images: its `--storage-driver` (and `--root` when set) and why that driver. */
export interface BuildahStorage {
  driver: string;
  root?: string;
  reason: string;
}

/** The storage drivers buildah is tried with, fastest first; vfs works everywhere. */
export const STORAGE_DRIVERS = ['overlay', 'vfs'] as const;

/**
 * The storage driver: BUILDAH_STORAGE_DRIVER when set; else overlay when `works('overlay')` (a
 * working container can be created and mounted with it), else vfs. vfs copies the whole file
 * system at every Dockerfile instruction and every commit (about 1-2 min per step on a busy
 * 2-core machine); overlay stacks the layers instead.
 */
export function chooseStorage(env: NodeJS.ProcessEnv, works: (driver: string) => boolean): BuildahStorage {
  const root = env['BUILDAH_ROOT'] || undefined;
  const asked = env['BUILDAH_STORAGE_DRIVER'];
  if (asked) return { driver: asked, root, reason: 'BUILDAH_STORAGE_DRIVER' };
  if (works('overlay')) return { driver: 'overlay', root, reason: 'overlay mounts here' };
  return { driver: 'vfs', root, reason: 'overlay does not mount here (vfs: every step copies the file system)' };
}

export function storageArgs(s: Pick<BuildahStorage, 'driver' | 'root'>): string[] {
  return ['--storage-driver', s.driver, ...(s.root ? ['--root', s.root] : [])];
}

/** Whether buildah can create and mount a working container with this driver (then removes it). */
function storageWorks(driver: string, root: string | undefined): boolean {
  const args = storageArgs({ driver, root });
  const from = spawnSync('buildah', [...args, 'from', 'scratch'], { encoding: 'utf8', timeout: 60_000 });
  if (from.status !== 0) return false;
  const ctr = from.stdout.trim();
  try {
    return spawnSync('buildah', [...args, 'mount', ctr], { stdio: 'ignore', timeout: 60_000 }).status === 0;
  } finally {
    spawnSync('buildah', [...args, 'rm', ctr], { stdio: 'ignore', timeout: 60_000 });
  }
}

export interface BuildahContainer {
  id: string;
  name: string;
}

/**
 * The working containers a build made: new since it began and named as buildah names a build
 * step's container (`<image>-working-container[-N]`), so that containers of a check running
 * beside it (named `ics-check-...`) are never taken for them.
 */
export function leftBehindByBuild(before: string[], after: BuildahContainer[]): BuildahContainer[] {
  const old = new Set(before);
  return after.filter((c) => !old.has(c.id) && /-working-container(-\d+)?$/.test(c.name));
}

let storage: BuildahStorage | undefined;
/** The storage every buildah command of this process uses, chosen once. */
export function buildahStorage(): BuildahStorage {
  return (storage ??= chooseStorage(process.env, (driver) => storageWorks(driver, process.env['BUILDAH_ROOT'] || undefined)));
}

/** buildah with this process's storage: the arguments that precede every buildah command. */
export function buildahGlobalArgs(): string[] {
  return storageArgs(buildahStorage());
}

/**
 * Debian's buildah, daemonless: chroot isolation works on this kind of machine (no user
 * namespaces needed), storage as buildahStorage() chose it.
 */
export class BuildahEngine implements Engine {
  readonly name = 'buildah';

  private buildah(args: string[], logFile?: string, o: { stampLog?: boolean; signal?: AbortSignal } = {}): Promise<string> {
    return run('buildah', [...buildahGlobalArgs(), ...args], { logFile, ...o, env: { ...process.env, BUILDAH_ISOLATION: 'chroot' } });
  }

  private async containers(): Promise<BuildahContainer[]> {
    const out = await this.buildah(['containers', '--notruncate', '--format', '{{.ContainerID}} {{.ContainerName}}']);
    return out.split('\n').filter(Boolean).map((l) => ({ id: l.split(' ')[0], name: l.split(' ').slice(1).join(' ') }));
  }

  async imageExists(tag: string): Promise<boolean> {
    return spawnSync('buildah', [...buildahGlobalArgs(), 'inspect', '--type', 'image', tag], { stdio: 'ignore' }).status === 0;
  }

  async canPull(ref: string): Promise<boolean> {
    if (await this.imageExists(ref)) return true;
    const r = spawnSync('buildah', [...buildahGlobalArgs(), 'pull', '--retry', '0', ref], { stdio: 'ignore', timeout: 60_000 });
    return r.status === 0;
  }

  /**
   * Copies `tag` into this storage from the same root under another driver (e.g. a base assembled
   * while vfs was in use), which takes seconds where assembling it again takes minutes.
   */
  async adoptImage(tag: string, logFile: string): Promise<boolean> {
    const current = buildahStorage();
    for (const driver of STORAGE_DRIVERS.filter((d) => d !== current.driver)) {
      const other = storageArgs({ driver, root: current.root });
      if (spawnSync('buildah', [...other, 'inspect', '--type', 'image', tag], { stdio: 'ignore' }).status !== 0) continue;
      const info = JSON.parse(await this.buildah(['info'])) as { store: { GraphRoot: string; RunRoot: string } };
      const dest = `containers-storage:[${current.driver}@${info.store.GraphRoot}+${info.store.RunRoot}]${tag}`;
      await run('buildah', [...other, 'push', tag, dest], { logFile });
      return true;
    }
    return false;
  }

  async build(req: BuildRequest): Promise<void> {
    // Docker image format: the OCI format has no HEALTHCHECK, and buildah drops it with a warning.
    const args = ['bud', '--format', 'docker', '--layers', '--force-rm', '--isolation', 'chroot', '--network', 'host', '-f', req.dockerfile, '-t', req.tag];
    if (req.ignoreFile && existsSync(req.ignoreFile)) args.push('--ignorefile', req.ignoreFile);
    // This machine's npm cache under the Dockerfiles' npm cache mount, as an overlay (`:O`): the
    // installs take what it holds (verified by integrity) instead of downloading it again, and
    // nothing they write reaches it.
    if (req.npmCache && existsSync(req.npmCache)) args.push('--volume', `${req.npmCache}:/root/.npm:O`);
    for (const [k, v] of Object.entries(req.buildArgs)) args.push('--build-arg', `${k}=${v}`);
    const before = (await this.containers()).map((c) => c.id);
    try {
      await this.buildah([...args, req.context], req.logFile, { stampLog: true, signal: req.signal });
    } catch (err) {
      // A build stopped half-way (Ctrl-C, a kill) leaves its step containers behind; --force-rm covers only failed steps.
      for (const c of leftBehindByBuild(before, await this.containers())) await this.buildah(['rm', c.id], req.logFile).catch(() => undefined);
      throw err;
    }
  }

  /** buildah reports sizes only rounded for humans: the bytes of the image's file system, measured mounted. */
  async imageSize(tag: string): Promise<number> {
    const [bytes] = await this.diskUsage(tag, ['/']);
    return bytes;
  }

  async importRootfs(rootfs: string, tag: string, config: ImageConfig, logFile: string): Promise<void> {
    const ctr = (await this.buildah(['from', 'scratch'], logFile)).trim();
    try {
      const mnt = (await this.buildah(['mount', ctr], logFile)).trim();
      await run('cp', ['-a', `${rootfs}/.`, `${mnt}/`], { logFile });
      await this.buildah(['umount', ctr], logFile);
      const cfg = [
        ...Object.entries(config.env).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
        ...Object.entries(config.labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
        '--cmd', JSON.stringify(config.cmd),
      ];
      await this.buildah(['config', ...cfg, ctr], logFile);
      await this.buildah(['commit', '--rm', ctr, tag], logFile);
    } catch (err) {
      await this.buildah(['rm', ctr]).catch(() => undefined);
      throw err;
    }
  }

  async diskUsage(tag: string, paths: string[]): Promise<number[]> {
    const ctr = (await this.buildah(['from', '--pull-never', tag])).trim();
    try {
      const mnt = (await this.buildah(['mount', ctr])).trim();
      return parseDu(await run('du', ['-sb', ...paths.map((p) => join(mnt, p))]), paths.length);
    } finally {
      await this.buildah(['rm', ctr]).catch(() => undefined);
    }
  }
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface EngineProbe {
  dockerEngineAnswers: boolean;
  buildahInstalled: boolean;
}

export function probeEngines(): EngineProbe {
  return {
    dockerEngineAnswers: onPath('docker') && spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 15_000 }).status === 0,
    buildahInstalled: onPath('buildah'),
  };
}

export type EngineChoice = 'auto' | 'docker' | 'buildah';

/** docker when its engine answers, else buildah; or a message saying what is missing and how to get it. */
export function chooseEngine(choice: EngineChoice, probe: EngineProbe): Engine | { missing: string } {
  const noDocker = 'no docker engine answers (`docker info` fails: start the Docker daemon, or use buildah)';
  const noBuildah = 'buildah is not installed (Debian/Ubuntu: `sudo apt-get install -y buildah`; it needs no daemon)';
  if (choice === 'docker') return probe.dockerEngineAnswers ? new DockerEngine() : { missing: noDocker };
  if (choice === 'buildah') return probe.buildahInstalled ? new BuildahEngine() : { missing: noBuildah };
  if (probe.dockerEngineAnswers) return new DockerEngine();
  if (probe.buildahInstalled) return new BuildahEngine();
  return { missing: `no container engine: ${noDocker}, and ${noBuildah}` };
}
