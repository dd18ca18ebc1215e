import { cpuPerImage, threadTimes, type CpuSample, type ThreadTimes } from './thread-times';

const thread = (name: string, ms: number, waitMs?: number): ThreadTimes => ({ name, ms, waitMs });

describe('CPU per image, by thread', () => {
  it("splits the worker's CPU between its main thread and the others, by thread name, and counts this process as the emulator", () => {
    const pid = 100;
    // [thread id, name, [ms, waitMs] at the first sample (absent: started since), [ms, waitMs] at the second]
    const threads: [number, string, [number, number] | undefined, [number, number]][] = [
      [100, 'node', [1_000, 50], [1_300, 80]],
      [101, 'WorkerThread', [2_000, 20], [2_800, 60]],
      [102, 'libuv-worker', [300, 10], [400, 30]],
      [103, 'libuv-worker', [200, 0], [250, 0]],
      [104, 'libvips worker', undefined, [50, 5]],
    ];
    const sample = (at: 0 | 1) =>
      new Map(threads.flatMap(([tid, name, ...times]) => (times[at] ? [[tid, thread(name, times[at][0], times[at][1])] as const] : [])));
    const a: CpuSample = { worker: sample(0), bench: { user: 5_000_000, system: 1_000_000 } };
    const b: CpuSample = { worker: sample(1), bench: { user: 5_300_000, system: 1_100_000 } };
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
