import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { buildahGlobalArgs } from './engine';
import { run } from './run';

export interface ContainerSpec {
  /** Unique on this machine: the check's run id is part of it. */
  name: string;
  image: string;
  env: Record<string, string>;
  logFile: string;
}

export interface StopResult {
  stopSeconds: number;
  /** SIGKILL was needed after the 10 s grace. */
  killed: boolean;
  /** Processes of the container still alive after its first process ended (then killed). */
  leftover: number[];
}

/** A running container; stop() sends SIGTERM and resolves with how long it took to exit. */
export interface RunningContainer {
  readonly name: string;
  /** Resolves with the exit code when the container's process ends (by itself or stopped). */
  readonly exited: Promise<number | null>;
  stop(): Promise<StopResult>;
}

/** Every container started in this process and not yet stopped: what Ctrl-C must stop. */
const live = new Set<RunningContainer>();

/** Stops every container this process started (e.g. on Ctrl-C), newest first. */
export async function stopAllContainers(): Promise<void> {
  for (const c of [...live].reverse()) await c.stop();
}

/** Runs images on the host network, with the image's own user, working directory and command. */
export interface ContainerRunner {
  start(spec: ContainerSpec): Promise<RunningContainer>;
}

const STOP_GRACE_MS = 10_000;

/**
 * A process whose stdout/stderr go to a log; SIGTERM, then SIGKILL after the grace, as `docker stop`
 * does. `processes` lists the container's processes (where this machine can see them), so that
 * one outliving the container is found and killed.
 */
function supervise(
  name: string,
  child: ChildProcess,
  logFile: string,
  kill: (signal: NodeJS.Signals) => void,
  cleanup: () => Promise<void>,
  processes: () => number[] = () => [],
): RunningContainer {
  child.stdout?.on('data', (b: Buffer) => appendFileSync(logFile, b));
  child.stderr?.on('data', (b: Buffer) => appendFileSync(logFile, b));
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });
  let stopping: Promise<StopResult> | undefined;
  const container: RunningContainer = {
    name,
    exited,
    stop: () =>
      (stopping ??= (async () => {
        const started = Date.now();
        let killed = false;
        const before = processes();
        if (child.exitCode === null && child.signalCode === null) {
          kill('SIGTERM');
          const timer = setTimeout(() => {
            killed = true;
            kill('SIGKILL');
          }, STOP_GRACE_MS);
          await exited;
          clearTimeout(timer);
        }
        const stopSeconds = (Date.now() - started) / 1000;
        const leftover = before.filter(alive);
        for (const p of leftover) signal(p, 'SIGKILL');
        await cleanup();
        live.delete(container);
        return { stopSeconds, killed, leftover };
      })()),
  };
  live.add(container);
  return container;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

export class DockerRunner implements ContainerRunner {
  async start(spec: ContainerSpec): Promise<RunningContainer> {
    const env = Object.entries(spec.env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    // Attached (not -d), so that its output reaches the log and its end is this process's exit.
    const child = spawn('docker', ['run', '--rm', '--network', 'host', '--name', spec.name, ...env, spec.image], { stdio: ['ignore', 'pipe', 'pipe'] });
    return supervise(
      spec.name,
      child,
      spec.logFile,
      (signal) => void run('docker', ['kill', '--signal', signal, spec.name]).catch(() => undefined),
      async () => void (await run('docker', ['rm', '-f', spec.name]).catch(() => undefined)),
    );
  }
}

/**
 * buildah has no `docker run`: a working container from the image, `buildah run` of the image's
 * command in it (chroot isolation, host network), removed afterwards. Signals go to the
 * container's processes by their ids (buildah's chroot runner does not pass them on).
 */
export class BuildahRunner implements ContainerRunner {
  private buildah(args: string[]): Promise<string> {
    return run('buildah', [...buildahGlobalArgs(), ...args]);
  }

  async start(spec: ContainerSpec): Promise<RunningContainer> {
    const ctr = (await this.buildah(['from', '--pull-never', '--name', spec.name, spec.image])).trim();
    let cmd: string[];
    try {
      const info = JSON.parse(await this.buildah(['inspect', '--type', 'container', ctr])) as { OCIv1?: { config?: { Cmd?: string[] } } };
      cmd = info.OCIv1?.config?.Cmd ?? [];
      if (!cmd.length) throw new Error(`${spec.image} has no CMD`);
    } catch (err) {
      await this.buildah(['rm', ctr]).catch(() => undefined);
      throw err;
    }
    const env = Object.entries(spec.env).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
    const child = spawn('buildah', [...buildahGlobalArgs(), 'run', '--isolation', 'chroot', '--network', 'host', ...env, ctr, '--', ...cmd], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return supervise(
      spec.name,
      child,
      spec.logFile,
      (sig) => signalTree(child.pid, sig),
      async () => void (await this.buildah(['rm', ctr]).catch(() => undefined)),
      () => (child.pid ? descendants(child.pid, procChildren) : []),
    );
  }
}

/** The process ids under `pid` (children first found through /proc), deepest last. */
export function descendants(pid: number, childrenOf: (pid: number) => number[]): number[] {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift() as number;
    for (const c of childrenOf(p)) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

function procChildren(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((t) =>
      readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/**
 * SIGTERM goes to the container's first process (the app, PID 1 in a real container), which
 * stops its own children; SIGKILL to every process under the buildah run we started.
 */
function signalTree(pid: number | undefined, sig: NodeJS.Signals): void {
  if (!pid) return;
  const tree = descendants(pid, procChildren);
  const appProcess = tree.find((p) => isNode(p));
  const targets = sig === 'SIGKILL' ? [...tree.reverse(), pid] : appProcess ? [appProcess] : [pid];
  for (const p of targets) signal(p, sig);
}

/** Whether the process runs node (by its argv[0]: Node 24 names its main thread `MainThread`, so comm does not say). */
function isNode(pid: number): boolean {
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
    return argv0 === 'node' || argv0.endsWith('/node');
  } catch {
    return false;
  }
}
