import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Logger } from '@nestjs/common';
import { isWorkerStatusMessage, type WorkerState } from '@app/contracts';
import { Fleet, type InstanceState, type WorkerInstance, type WorkerLiveness } from './fleet';

export interface LocalProcessFleetOptions {
  /** The built worker (`dist/apps/classifier-worker/main.js`). */
  workerMain: string;
  /** Environment of every worker (the stack's configuration); WORKER_ID is added. */
  env: NodeJS.ProcessEnv;
  /** One `<id>.json` record and `<id>.log` per worker; every controller on this machine reads the same folder. */
  stateDir: string;
  /** SIGKILL this long after SIGTERM if the worker is still there. */
  killGraceMs: number;
  /** How much lower every worker's scheduling priority is than the launcher's (nice(1) -n, 0 to 19; default 0). */
  nice?: number;
}

/** What a worker's record holds: enough for any process on this machine to see and stop it. */
export interface WorkerRecord {
  id: string;
  pid: number;
  launchedAt: string;
  workerState?: WorkerState;
  terminating?: boolean;
}

const ID = /^local-(\d+)\.(json|log)$/;
const RECORD = /^local-\d+\.json$/;

/** One worker's record in a state folder, or undefined (gone, or being replaced). */
export function readWorkerRecord(stateDir: string, id: string): WorkerRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(stateDir, `${id}.json`), 'utf8')) as WorkerRecord;
  } catch {
    return undefined;
  }
}

/** Every worker record in a state folder, as written (live or stale). */
export function readWorkerRecords(stateDir: string): WorkerRecord[] {
  let files: string[];
  try {
    files = readdirSync(stateDir).filter((f) => RECORD.test(f));
  } catch {
    return [];
  }
  return files.map((f) => readWorkerRecord(stateDir, f.slice(0, -'.json'.length))).filter((r): r is WorkerRecord => r !== undefined);
}

/** Whether a process runs (one this user may not signal counts as running). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function stateOf(r: WorkerRecord): InstanceState {
  if (r.terminating || r.workerState === 'stopping') return 'terminating';
  if (r.workerState === 'free' || r.workerState === 'busy') return 'running';
  return 'pending';
}

/**
 * Workers as processes on this machine (`local-1`, `local-2`, …). The process
 * that launches them owns them (IPC status, exit tracking, shutdown); any other
 * process (the monitor controller) sees and stops them through their records.
 */
export class LocalProcessFleet extends Fleet {
  private readonly logger = new Logger(LocalProcessFleet.name);
  private readonly children = new Map<string, ChildProcess>();
  private readonly dir: string;

  constructor(private readonly options: LocalProcessFleetOptions) {
    super();
    this.dir = resolve(options.stateDir);
    mkdirSync(this.dir, { recursive: true });
  }

  async launch(count: number): Promise<WorkerInstance[]> {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`launch count must be a positive integer (got ${count})`);
    const launched: WorkerInstance[] = [];
    for (let i = 0; i < count; i++) launched.push(this.spawnOne());
    return launched;
  }

  private nextId(): string {
    let max = 0;
    for (const f of readdirSync(this.dir)) {
      const m = ID.exec(f);
      if (m) max = Math.max(max, Number(m[1]));
    }
    for (const id of this.children.keys()) max = Math.max(max, Number(id.slice('local-'.length)));
    return `local-${max + 1}`;
  }

  private spawnOne(): WorkerInstance {
    const id = this.nextId();
    const log = openSync(join(this.dir, `${id}.log`), 'a');
    let child: ChildProcess;
    try {
      // Through nice(1) rather than setpriority on the child's pid: that would miss the threads Node starts first.
      const command = [process.execPath, resolve(this.options.workerMain)];
      const nice = this.options.nice ?? 0;
      if (nice !== 0) command.unshift('nice', '-n', String(nice));
      child = spawn(command[0], command.slice(1), {
        env: { ...this.options.env, APP_NAME: 'classifier-worker', WORKER_ID: id, WORKER_PLATFORM: 'local' },
        stdio: ['ignore', log, log, 'ipc'],
      });
    } finally {
      closeSync(log);
    }
    if (child.pid === undefined) throw new Error(`could not start worker ${id} (${this.options.workerMain})`);
    const record: WorkerRecord = { id, pid: child.pid, launchedAt: new Date().toISOString() };
    this.children.set(id, child);
    this.write(record);
    child.on('message', (msg: unknown) => {
      if (!isWorkerStatusMessage(msg)) return;
      const current = this.read(id);
      if (current) this.write({ ...current, workerState: msg.state });
    });
    child.once('exit', (code, signal) => {
      this.children.delete(id);
      rmSync(join(this.dir, `${id}.json`), { force: true });
      this.logger.log(`worker ${id} exited (${signal ?? `code ${code}`})`);
    });
    // A worker that cannot start (bad path) fails here, not silently.
    child.once('error', (err) => this.logger.error(`worker ${id}: ${err.message}`));
    this.logger.log(`launched worker ${id} (pid ${child.pid})`);
    return { id, state: 'pending', launchedAt: new Date(record.launchedAt), busy: false };
  }

  async list(): Promise<WorkerInstance[]> {
    const workers: WorkerInstance[] = [];
    for (const r of readWorkerRecords(this.dir)) {
      // A record whose process is gone is stale (its owner died with it, or was killed).
      if (!isProcessAlive(r.pid) && !this.children.has(r.id)) {
        rmSync(join(this.dir, `${r.id}.json`), { force: true });
        continue;
      }
      workers.push({
        id: r.id,
        state: stateOf(r),
        launchedAt: new Date(r.launchedAt),
        workerState: r.workerState,
        busy: r.workerState === 'busy',
      });
    }
    return workers.sort((a, b) => a.launchedAt.getTime() - b.launchedAt.getTime());
  }

  /** Alive while its process is (terminating included: it finishes what it holds). */
  override async status(id: string): Promise<WorkerLiveness> {
    const r = this.read(id);
    return r && isProcessAlive(r.pid) ? 'alive' : 'gone';
  }

  async terminate(id: string): Promise<void> {
    const r = this.read(id);
    if (!r || !isProcessAlive(r.pid)) return;
    this.write({ ...r, terminating: true });
    this.signal(r.pid, 'SIGTERM');
    const timer = setTimeout(() => {
      if (isProcessAlive(r.pid)) {
        this.logger.warn(`worker ${id} still there ${this.options.killGraceMs} ms after SIGTERM: SIGKILL`);
        this.signal(r.pid, 'SIGKILL');
      }
    }, this.options.killGraceMs);
    timer.unref();
  }

  /** Stops every worker this process launched and waits for them to exit. */
  async shutdown(): Promise<void> {
    const exits = [...this.children.entries()].map(
      ([id, child]) =>
        new Promise<void>((res) => {
          if (child.exitCode !== null || child.signalCode !== null) return res();
          child.once('exit', () => res());
          void this.terminate(id);
        }),
    );
    await Promise.all(exits);
  }

  private signal(pid: number, signal: NodeJS.Signals): void {
    try {
      process.kill(pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }

  private read(id: string): WorkerRecord | undefined {
    return readWorkerRecord(this.dir, id);
  }

  private write(r: WorkerRecord): void {
    // Write-then-rename so that a reader never sees half a record.
    const tmp = join(this.dir, `.${r.id}.${process.pid}.tmp`);
    writeFileSync(tmp, JSON.stringify(r));
    renameSync(tmp, join(this.dir, `${r.id}.json`));
  }
}
