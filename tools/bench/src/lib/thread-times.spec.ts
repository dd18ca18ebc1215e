import { cpuPerImage, threadTimes, type CpuSample, type ThreadTimes } from './thread-times';

const thread = (name: string, ms: number, waitMs?: number): ThreadTimes => ({ name, ms, waitMs });

describe('CPU per image, by thread', () => {
  it("splits the worker's CPU between its main thread and the others, by thread name, and counts this process as the emulator", () => {
    const pid = 100;
    const a: CpuSample = {
      worker: new Map([
        [100, thread('node', 1_000, 50)],
        [101, thread('WorkerThread', 2_000, 20)],
        [102, thread('libuv-worker', 300, 10)],
        [103, thread('libuv-worker', 200, 0)],
      ]),
      bench: { user: 5_000_000, system: 1_000_000 },
    };
    const b: CpuSample = {
      worker: new Map([
        [100, thread('node', 1_300, 80)],
        [101, thread('WorkerThread', 2_800, 60)],
        [102, thread('libuv-worker', 400, 30)],
        [103, thread('libuv-worker', 250, 0)],
        // A thread started between the samples counts from zero.
        [104, thread('libvips worker', 50, 5)],
      ]),
      bench: { user: 5_300_000, system: 1_100_000 },
    };
    expect(cpuPerImage(pid, a, b, 100)).toEqual({
      workerMainThread: 3,
      workerOtherThreads: 10,
      emulator: 4,
      byThread: { main: 3, WorkerThread: 8, 'libuv-worker': 1.5, 'libvips worker': 0.5 },
      waitByThread: { main: 0.3, WorkerThread: 0.4, 'libuv-worker': 0.2, 'libvips worker': 0.05 },
    });
  });

  it('gives the emulator alone when the worker could not be read (not Linux, or gone)', () => {
    const bench = { user: 0, system: 0 };
    expect(cpuPerImage(1, { bench }, { bench: { user: 2_000, system: 0 } }, 2)).toEqual({ emulator: 1 });
  });

  it("reads this process's threads from /proc, the main thread's CPU growing as it works", () => {
    const before = threadTimes(process.pid)?.get(process.pid);
    const until = process.cpuUsage().user + 150_000;
    while (process.cpuUsage().user < until); // 150 ms of CPU: /proc counts in 10 ms ticks
    const after = threadTimes(process.pid)?.get(process.pid);
    expect(before).toBeDefined();
    expect((after?.ms ?? 0) - (before?.ms ?? 0)).toBeGreaterThanOrEqual(100);
  });
});
