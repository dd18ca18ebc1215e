import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { AwsClients, AwsResources } from '@app/aws';
import { loadConfig } from '@app/config';
import { readWorkerRecords } from '@app/fleet';
import { LOCAL_CREDENTIALS } from '@tools/local-aws';
import { eventually, testChildEnv, WORKSPACE_ROOT } from '@tools/testing';
import { startLocalSystem, type LocalSystem, type LocalSystemOptions } from './system';

/** Adapters on the running system's S3/SQS, for checking what landed where. */
export function resourcesOf(system: LocalSystem): { resources: AwsResources; clients: AwsClients } {
  process.env['AWS_ACCESS_KEY_ID'] = LOCAL_CREDENTIALS.accessKeyId;
  process.env['AWS_SECRET_ACCESS_KEY'] = LOCAL_CREDENTIALS.secretAccessKey;
  const config = loadConfig(system.aws.env);
  const clients = new AwsClients(config);
  return { resources: new AwsResources(config, clients), clients };
}

export interface UploadAnswer {
  batchId: string;
  images: { imageId: string; fileName: string }[];
}

export async function upload(webUrl: string, files: string[]): Promise<UploadAnswer> {
  const form = new FormData();
  for (const f of files) form.append('images', new Blob([readFileSync(f)]), basename(f));
  const res = await fetch(`${webUrl}/api/images`, { method: 'POST', body: form });
  if (res.status !== 202) throw new Error(`upload: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as UploadAnswer;
}

export interface BatchView {
  finished: boolean;
  done: number;
  failed: number;
  images: { imageId: string; fileName: string; status: string; label?: string; attempts?: number; producedBy?: string; error?: { reason: string; permanent: boolean } }[];
}

/** The batch once it is finished; a timeout names the batch and shows its last view. */
export async function waitForBatch(webUrl: string, batchId: string, timeoutMs: number): Promise<BatchView> {
  return eventually(
    async () => {
      const b = (await (await fetch(`${webUrl}/api/batches/${batchId}`)).json()) as BatchView;
      if (!b.finished) throw new Error(`last seen: ${JSON.stringify(b).slice(0, 500)}`);
      return b;
    },
    timeoutMs,
    200,
    `batch ${batchId} to finish`,
  );
}

/** The local fleet's records (one per live worker). */
export const workerRecords = readWorkerRecords;

export interface NpmStartRun {
  child: ChildProcess;
  /** Resolves with the exit code of `npm start`. */
  exited: Promise<number | null>;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Ctrl-C as a terminal sends it: SIGINT to the whole process group. */
  interrupt(): void;
  /** Ctrl-C, then SIGKILL to the whole group if it has not exited after graceMs; resolves on its exit. */
  stop(graceMs: number): Promise<void>;
}

/**
 * npm start's own program (tools/local-run/src/main.ts) run from source by this Node, on the
 * apps' existing builds: a test target depends on those builds, and a nested build would race
 * other suites reading dist/. The environment is only `env` (with PATH and HOME). As npm start
 * runs it: tsx as a loader in the one process. tsx's own command runs the program in a child and,
 * on Ctrl-C, SIGKILLs that child unless it answers within 30 ms twice: npm start, busy at that
 * moment, died with its embedded S3/SQS before its apps had stopped and never said `Stopped.`
 */
export function spawnLocalRunFromSource(env: Record<string, string>): NpmStartRun {
  return spawnNpmStart([process.execPath, '--import', 'tsx', 'tools/local-run/src/main.ts'], {
    cwd: WORKSPACE_ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', TSX_TSCONFIG_PATH: 'tsconfig.base.json', LOCAL_RUN_SKIP_BUILD: 'true', ...env },
  });
}

/** Runs of npm start this test file began and that have not exited (Jest gives each test file its own copy). */
const liveRuns = new Set<NpmStartRun>();

/**
 * `npm start` (or the command given) in its own process group, registered at
 * once so that killAllNpmStarts() can stop it whatever state the test is in.
 */
export function spawnNpmStart(command: string[], options: { cwd: string; env: Record<string, string> }): NpmStartRun {
  const child = spawn(command[0], command.slice(1), { cwd: options.cwd, env: { ...testChildEnv(), ...options.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const run: NpmStartRun = {
    child,
    exited,
    output: () => out,
    interrupt: () => signalGroup(child, 'SIGINT'),
    stop: async (graceMs) => {
      run.interrupt();
      const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  liveRuns.add(run);
  void exited.then(() => liveRuns.delete(run));
  return run;
}

/**
 * Resolves with the address npm start prints as its `Upload page` once it is
 * up; rejects when it exits first or is not up within timeoutMs, with the end of its output.
 */
export async function waitForNpmStart(run: NpmStartRun, timeoutMs: number): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const url = /Upload page\s+(http:\/\/\S+?)\/?\s/.exec(run.output())?.[1];
    if (url) return url;
    const code = await Promise.race([run.exited, new Promise<'waiting'>((r) => setTimeout(() => r('waiting'), 200))]);
    if (code !== 'waiting') throw new Error(`npm start exited (${code}) before it was ready:\n${run.output().slice(-3000)}`);
    if (Date.now() > until) throw new Error(`npm start not ready within ${timeoutMs / 1000} s:\n${run.output().slice(-3000)}`);
  }
}

/**
 * For afterEach: Ctrl-C to every run still going, SIGKILL to its whole group
 * after graceMs. The system's own processes carry the run's marker; a test
 * checks those separately.
 */
export async function killAllNpmStarts(graceMs = 30_000): Promise<void> {
  await Promise.all([...liveRuns].map((run) => run.stop(graceMs)));
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid) process.kill(-child.pid, signal);
  } catch {
    // the group is gone
  }
}

/** Systems this test file started or is starting (Jest gives each test file its own copy). */
const systems = new Set<Promise<LocalSystem | undefined>>();

/**
 * startLocalSystem for tests: registered before it is ready, so that
 * stopAllSystems() stops it even when the beforeAll that started it timed out
 * half-way; its processes carry the test run's marker for the global
 * teardown; its stop() may be called twice.
 */
export function startTestSystem(options: LocalSystemOptions): Promise<LocalSystem> {
  const starting = startLocalSystem({ ...options, env: { ...testChildEnv(), ...options.env } }).then((system) => {
    let stopped: Promise<void> | undefined;
    const stop = system.stop;
    system.stop = () => (stopped ??= stop());
    return system;
  });
  systems.add(starting.catch(() => undefined)); // a failed start has stopped what it started
  return starting;
}

/** For afterAll: waits for starts in flight, then stops every system this test file started. */
export async function stopAllSystems(): Promise<void> {
  const all = await Promise.all([...systems]);
  systems.clear();
  await Promise.all(all.map((s) => s?.stop()));
}
