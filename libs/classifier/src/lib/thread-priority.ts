import { readdirSync, readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/**
 * The model thread first: every other thread of the worker (the event loop, libuv's
 * pool, libvips', V8's helpers) is given a lower CPU priority, so that where they
 * compete for a core the model wins, and the work around it fills the gaps.
 *
 * Why: on two cores the model thread waited 1.9 ms per image for a core
 * (`bench:classifier`'s `workerRunQueueWaitMsPerImageByThread.WorkerThread`),
 * a quarter of its own 7.8 ms; the model is the part that cannot catch up, the
 * rest only needs to keep it fed (`WORKER_PREFETCH` images ahead).
 *
 * Linux only: there a thread's nice is its own (setpriority(2) on a thread id),
 * and a thread starts with its creator's. So threads created later stay on the
 * side they were created from: libuv's and libvips' from the event loop's, the
 * model's own (ONNX Runtime's) from the model thread. Elsewhere, or where /proc
 * is not mounted, nothing changes. Raising a priority needs privileges; lowering
 * one does not, so this never asks for any.
 */

/** The calling thread's kernel id (Linux), or undefined where it cannot be told. */
export function kernelThreadId(): number | undefined {
  try {
    // "<pid>/task/<tid>"
    const id = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(id) && id > 0 ? id : undefined;
  } catch {
    return undefined;
  }
}

/** This process's thread ids (Linux), or none where they cannot be listed. */
function threadIds(): number[] {
  try {
    return readdirSync('/proc/self/task').map(Number).filter((id) => Number.isInteger(id) && id > 0);
  } catch {
    return [];
  }
}

/**
 * How far below the model thread the worker's other threads run when WORKER_OTHER_THREADS_NICE
 * is not set. Where the model's threads leave a core free (ONNX Runtime on fewer threads than
 * cores, as locally, one thread per core's share), the threads that feed it have that core and
 * need none of the model's: 19, where a thread gets about 1.5 % of a core it shares with the
 * model, against 25 % at 5. On two cores (`bench:classifier`, onnx, in turns, 2026-12-04) the
 * model thread waited 0.05-0.24 ms per image for a core against 0.23-0.40, and `ratio` was
 * 0.81-0.87 (median 0.86 of 5) against 0.73-0.89 (median 0.77). Where the model's threads may
 * take every core (ONNX Runtime on all of them, as on an EC2 worker, or TF.js, whose threads are
 * its own), the feeding threads must share one: 5.
 */
export function feedingThreadsNice(modelThreads: number | undefined, cores: number): number {
  return modelThreads !== undefined && modelThreads < cores ? 19 : 5;
}

/**
 * Lowers every thread of this process but `keep` to `by` below `keep`'s own priority (nice
 * `keep`'s + `by`, at most 19), unless it is already that low or lower. Relative, as nice(1)
 * is: a worker the local fleet started at nice 19 (WORKER_NICE) is left as it is; one started
 * at 10 keeps its model thread at 10 and the rest go to 15. Returns how many threads it
 * changed; a thread that ends meanwhile is skipped.
 */
export function lowerOtherThreads(keep: number, by: number): number {
  if (!Number.isInteger(by) || by < 1 || by > 19) throw new RangeError(`nice must be a whole number from 1 to 19, not ${by}`);
  let target: number;
  try {
    target = Math.min(19, getPriority(keep) + by);
  } catch {
    return 0; // the kept thread is gone, or this is not Linux: nothing to give it
  }
  return lowerThreadsTo(target, keep);
}

/**
 * Lowers every thread of this process to nice `nice`, unless it is already that low or lower
 * (the threads it starts later follow the thread that starts them). For a process that must
 * give way to another's model thread, as the benchmark's emulated S3 and SQS do. Returns how
 * many threads it changed.
 */
export function lowerAllThreads(nice: number): number {
  if (!Number.isInteger(nice) || nice < 0 || nice > 19) throw new RangeError(`nice must be a whole number from 0 to 19, not ${nice}`);
  return lowerThreadsTo(nice);
}

function lowerThreadsTo(target: number, except?: number): number {
  let changed = 0;
  for (const id of threadIds()) {
    if (id === except) continue;
    try {
      if (getPriority(id) >= target) continue;
      setPriority(id, target);
      changed++;
    } catch {
      // ended meanwhile (ESRCH), or not ours to change: left as it is
    }
  }
  return changed;
}
