import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '@tools/testing/eventually';
import { LocalProcessFleet, readWorkerRecord, isProcessAlive } from './local-process-fleet';

const FIXTURE = join(__dirname, '../testing/status-reporting-process.js');

describe('LocalProcessFleet', () => {
  let dir: string;
  let fleet: LocalProcessFleet;
  const pidOf = (id: string) => readWorkerRecord(dir, id)?.pid as number;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fleet-'));
    fleet = new LocalProcessFleet({ workerMain: FIXTURE, env: { PATH: process.env['PATH'] }, stateDir: dir, killGraceMs: 300 });
  });
  afterEach(async () => {
    await fleet.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('launches numbered worker processes and follows their status: pending, busy, free', async () => {
    const launched = await fleet.launch(2);
    expect(launched.map((w) => [w.id, w.state])).toEqual([
      ['local-1', 'pending'],
      ['local-2', 'pending'],
    ]);
    await until('a worker to report busy', async () => (await fleet.list()).some((w) => w.busy));
    const busy = (await fleet.list()).find((w) => w.busy);
    expect(busy).toMatchObject({ state: 'running', workerState: 'busy' });
    await until('both workers running and free', async () => (await fleet.list()).every((w) => w.state === 'running' && !w.busy));
    expect(readFileSync(join(dir, 'local-1.log'), 'utf8')).toContain('local-1 started');
  });

  it('runs its workers at the nice value it is given, every thread of them', async () => {
    const lowered = new LocalProcessFleet({ workerMain: FIXTURE, env: { PATH: process.env['PATH'] }, stateDir: dir, killGraceMs: 300, nice: 7 });
    const [w] = await lowered.launch(1);
    await until('the worker to run', async () => (await lowered.list())[0]?.state === 'running');
    const pid = pidOf(w.id);
    expect(getPriority(pid)).toBe(7);
    const threads = readdirSync(`/proc/${pid}/task`);
    expect(threads.length).toBeGreaterThan(1);
    expect(threads.map((tid) => getPriority(Number(tid)))).toEqual(threads.map(() => 7));
    await lowered.shutdown();
  });

  it('is seen and stopped from another process through the records (as the monitor controller does)', async () => {
    await fleet.launch(1);
    const other = new LocalProcessFleet({ workerMain: FIXTURE, env: {}, stateDir: dir, killGraceMs: 300 });
    await until('the other fleet to see the worker', async () => (await other.list()).length === 1);
    const [w] = await other.list();
    const pid = pidOf(w.id);
    await other.terminate(w.id);
    await until('the worker process to end', () => !isProcessAlive(pid));
    await until('the record to be dropped', async () => (await fleet.list()).length === 0);
    expect(existsSync(join(dir, `${w.id}.json`))).toBe(false);
  });

  it('SIGKILLs a worker that ignores SIGTERM after the grace period', async () => {
    const stubborn = new LocalProcessFleet({
      workerMain: FIXTURE,
      env: { IGNORE_SIGTERM: '1' },
      stateDir: dir,
      killGraceMs: 300,
    });
    const [w] = await stubborn.launch(1);
    await until('the worker to run', async () => (await stubborn.list())[0]?.state === 'running');
    const pid = pidOf(w.id);
    const terminated = Date.now();
    await stubborn.terminate(w.id);
    expect((await stubborn.list())[0]).toMatchObject({ id: w.id, state: 'terminating' });
    // The worker received SIGTERM and lived on (it says so in its log)...
    await until('the worker to log that it ignores SIGTERM', () => readFileSync(join(dir, `${w.id}.log`), 'utf8').includes(`${w.id} ignores SIGTERM`));
    expect(isProcessAlive(pid)).toBe(true);
    // ...until the SIGKILL, which comes no sooner than the grace period.
    await until('the worker to be killed', () => !isProcessAlive(pid), 3000);
    expect(Date.now() - terminated).toBeGreaterThanOrEqual(300);
  });

  it('drops the record of a worker killed with SIGKILL, and keeps numbering after it', async () => {
    const [w] = await fleet.launch(1);
    const pid = pidOf(w.id);
    process.kill(pid, 'SIGKILL');
    await until("the killed worker's record to be dropped", async () => (await fleet.list()).length === 0);
    const [next] = await fleet.launch(1);
    expect(next.id).toBe('local-2');
  });

  it('shutdown() stops every worker it launched', async () => {
    await fleet.launch(3);
    const pids = () =>
      ['local-1', 'local-2', 'local-3'].map((id) => pidOf(id));
    const before = pids();
    await fleet.shutdown();
    expect(before.filter(isProcessAlive)).toEqual([]);
    expect(await fleet.list()).toEqual([]);
  });
  it('status(): alive while the process is, gone once it is killed, and for an id it never had', async () => {
    const [w] = await fleet.launch(1);
    const other = new LocalProcessFleet({ workerMain: FIXTURE, env: {}, stateDir: dir, killGraceMs: 300 });
    expect(await other.status(w.id)).toBe('alive');
    process.kill(pidOf(w.id), 'SIGKILL');
    await until('the killed worker to be gone', async () => (await other.status(w.id)) === 'gone');
    expect(await other.status('local-77')).toBe('gone');
  });
});
