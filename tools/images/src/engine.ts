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
    await run('docker', [...args, req.context], { logFile: req.logFile, env: { ...process.env, DOCKER_BUILDKIT: '1' } });
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

/**
 * Debian's buildah, daemonless: vfs storage and chroot isolation work on this kind of machine (no
 * user namespaces needed). vfs copies the whole file system at every step, so each Dockerfile
 * instruction costs a copy; BUILDAH_STORAGE_DRIVER=overlay (with its own BUILDAH_ROOT, as one
 * storage root holds one driver) is much faster where the kernel mounts overlay.
 */
export class BuildahEngine implements Engine {
  readonly name = 'buildah';
  static readonly GLOBAL = [
    '--storage-driver',
    process.env['BUILDAH_STORAGE_DRIVER'] ?? 'vfs',
    ...(process.env['BUILDAH_ROOT'] ? ['--root', process.env['BUILDAH_ROOT']] : []),
  ];

  private buildah(args: string[], logFile?: string): Promise<string> {
    return run('buildah', [...BuildahEngine.GLOBAL, ...args], { logFile, env: { ...process.env, BUILDAH_ISOLATION: 'chroot' } });
  }

  async imageExists(tag: string): Promise<boolean> {
    return spawnSync('buildah', [...BuildahEngine.GLOBAL, 'inspect', '--type', 'image', tag], { stdio: 'ignore' }).status === 0;
  }

  async canPull(ref: string): Promise<boolean> {
    if (await this.imageExists(ref)) return true;
    const r = spawnSync('buildah', [...BuildahEngine.GLOBAL, 'pull', '--retry', '0', ref], { stdio: 'ignore', timeout: 60_000 });
    return r.status === 0;
  }

  async build(req: BuildRequest): Promise<void> {
    // Docker image format: the OCI format has no HEALTHCHECK, and buildah drops it with a warning.
    const args = ['bud', '--format', 'docker', '--layers', '--force-rm', '--isolation', 'chroot', '--network', 'host', '-f', req.dockerfile, '-t', req.tag];
    if (req.ignoreFile && existsSync(req.ignoreFile)) args.push('--ignorefile', req.ignoreFile);
    for (const [k, v] of Object.entries(req.buildArgs)) args.push('--build-arg', `${k}=${v}`);
    await this.buildah([...args, req.context], req.logFile);
  }

  /** buildah reports sizes only rounded for humans: the bytes of the image's file system (vfs keeps it unpacked). */
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
