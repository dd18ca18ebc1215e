import type { ModelEngine } from '@app/classifier';

/**
 * npm start's MAX_WORKERS when the caller gives none: local workers share this
 * machine's cores, and each one pays a boot (module loading, model load) that
 * competes with the images.
 *
 * - A TF.js worker spends nearly all of an image in its model thread (about 130
 *   ms against 10 around it), so one worker per core keeps the cores busy.
 * - An ONNX Runtime worker's model takes under half of an image's CPU (8.6 of
 *   18.4 ms in `bench:classifier`); decoding, S3 and SQS on its other threads
 *   take the rest, so one worker already keeps about 1.3 cores busy, and the local
 *   AWS edge most of what is left. It gets a worker per two cores: on two cores a
 *   second worker only added its boot (classic 100 from zero workers: 4.4 to 4.9 s
 *   with one worker, 5.5 to 6.1 s with two, on the machine of issue 19).
 * - Unknown engine (MODEL_URL, read by the workers): one per core, as before.
 */
export function localMaxWorkers(cores: number, engine: ModelEngine | undefined): number {
  const coresPerWorker = engine === 'onnx' ? 2 : 1;
  return Math.max(1, Math.floor(cores / coresPerWorker));
}

const ENGINE_NAMES: Record<ModelEngine, string> = { onnx: 'ONNX Runtime', tfjs: 'TF.js' };

/** MAX_WORKERS for npm start's apps (the caller's, else localMaxWorkers), and the line npm start prints about it. */
export function fleetSize(cores: number, engine: ModelEngine | undefined, given: string | undefined): { maxWorkers: string; line: string } {
  if (given) return { maxWorkers: given, line: `Workers: up to ${given} at once (MAX_WORKERS)` };
  const maxWorkers = String(localMaxWorkers(cores, engine));
  return { maxWorkers, line: `Workers: up to ${maxWorkers} at once (MAX_WORKERS: what ${cores} cores keep busy with ${engine ? ENGINE_NAMES[engine] : 'this model'})` };
}
