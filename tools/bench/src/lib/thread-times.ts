import { readdirSync, readFileSync } from 'node:fs';

// CPU accounting for bench:classifier: the worker's threads (Linux /proc) and this process.

/** What one thread has used so far: CPU ms, and ms spent runnable but waiting for a core (when the kernel keeps schedstats). */
export interface ThreadTimes {
  ms: number;
  waitMs?: number;
  name: string;
}

/** Each thread of a process so far (Linux), keyed by thread id, with the thread's name. */
export function threadTimes(pid: number): Map<number, ThreadTimes> | undefined {
  try {
    const out = new Map<number, ThreadTimes>();
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), { ms: ((Number(f[11]) + Number(f[12])) * 1000) / 100, waitMs: runQueueWaitMs(pid, tid), name }); // utime + stime, at 100 ticks/s
    }
    return out;
  } catch {
    return undefined;
  }
}

/** schedstat's second field: nanoseconds the thread was runnable but not running. */
function runQueueWaitMs(pid: number, tid: string): number | undefined {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[1]) / 1e6;
  } catch {
    return undefined;
  }
}

export interface CpuSample {
  worker?: Map<number, ThreadTimes>;
  bench: NodeJS.CpuUsage;
}

export function cpuSample(pid: number): CpuSample {
  return { worker: threadTimes(pid), bench: process.cpuUsage() };
}

/** CPU per image between two samples: the worker's main thread, its other threads, and this process (the emulator). */
export function cpuPerImage(pid: number, a: CpuSample, b: CpuSample, images: number) {
  const emulator = (b.bench.user - a.bench.user + b.bench.system - a.bench.system) / 1000 / images;
  if (!a.worker || !b.worker) return { emulator };
  let main = 0;
  let other = 0;
  // By thread name with digits dropped (libuv's pool, libvips', V8's helpers, the model's thread), to show where it goes.
  const byThread: Record<string, number> = {};
  // Time runnable but waiting for a core: where the threads contend for CPU rather than wait for work.
  const waitByThread: Record<string, number> = {};
  for (const [tid, t] of b.worker) {
    const before = a.worker.get(tid);
    const used = t.ms - (before?.ms ?? 0);
    if (tid === pid) main += used;
    else other += used;
    const name = tid === pid ? 'main' : t.name.replace(/[\d-]+$/, '') || 'thread';
    byThread[name] = (byThread[name] ?? 0) + used / images;
    if (t.waitMs !== undefined) waitByThread[name] = (waitByThread[name] ?? 0) + (t.waitMs - (before?.waitMs ?? 0)) / images;
  }
  return { workerMainThread: main / images, workerOtherThreads: other / images, emulator, byThread, waitByThread };
}
