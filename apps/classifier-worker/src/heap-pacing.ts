import { setFlagsFromString } from 'node:v8';

/**
 * Full garbage collections paced to the garbage the worker makes, not to its small live heap.
 *
 * The worker keeps 25-35 MB alive and makes about 140 KB of garbage per image. After each
 * full collection V8 sets the old generation's next limit a small factor above what is
 * left, and it starts marking as soon as the room under that limit is less than the young
 * generation (up to 32 MB): here, almost at once. A full collection ran every 0.5-1 s, each
 * with about 120 ms of marking on V8's helper threads: 0.7-0.9 ms of CPU per image
 * (`bench:classifier`, `workerCpuMsPerImageByThread.V8Worker`). A growing factor of 4
 * leaves room for several young generations: 0.3 ms per image, side by side in turns
 * (2026-12-04, onnx; 1.5 gave 0.6-0.7, 7 no less than 4), `workerOutsideModel` 2.9-3.8 ms
 * against 3.8-4.5, for 60-80 MB more resident memory (430-460 MB against 365-390 after
 * 1,800 images).
 *
 * Set when the process starts, not as a command-line flag, so that every way the worker
 * is started (systemd on EC2, the container, the local fleet, the benchmarks) has it. A
 * `--heap-growing-percent` given to Node itself (command line or NODE_OPTIONS) is left alone.
 */
export const HEAP_GROWING_PERCENT = 300;

export interface PacingOptions {
  /** Node's own flags (default: process.execArgv). */
  execArgv?: readonly string[];
  /** NODE_OPTIONS (default: the environment's). */
  nodeOptions?: string;
  /** Where the flag goes (default: V8's setFlagsFromString). */
  setFlags?: (flags: string) => void;
}

/** Sets V8's heap growing factor for this process; the flag it set, or undefined when Node was given one. */
export function paceFullCollections(options: PacingOptions = {}): string | undefined {
  const given = [...(options.execArgv ?? process.execArgv), ...(options.nodeOptions ?? process.env['NODE_OPTIONS'] ?? '').split(/\s+/)];
  // V8 reads its flags with - and _ alike.
  if (given.some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg))) return undefined;
  const flag = `--heap-growing-percent=${HEAP_GROWING_PERCENT}`;
  (options.setFlags ?? setFlagsFromString)(flag);
  return flag;
}
