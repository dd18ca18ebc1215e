import { Classifier, classifierOptions, DeferredLogger } from '@app/classifier';
import { loadConfig } from '@app/config/load';

/** The model, loading since the process started; WorkerService takes it instead of loading its own. */
export interface PreloadedModel {
  classifier: Promise<Classifier>;
  /** The model load's log lines, held until the app's logger is attached. */
  log: DeferredLogger;
}

/**
 * Starts loading the model (its thread: ONNX Runtime or TF.js, the session, the
 * warm-up) as soon as the environment is known, so that it goes on while the
 * rest of the worker's modules load (Nest, the AWS SDK, pino: about 0.6 s of
 * CPU, as long as the model load) instead of after them. Nothing when the
 * configuration is not valid here: the app then reports it, as it does at any start.
 */
export function preloadModel(env: NodeJS.ProcessEnv = process.env): PreloadedModel | undefined {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(env);
  } catch {
    return undefined;
  }
  const log = new DeferredLogger();
  const classifier = Classifier.create(classifierOptions(config.worker), log);
  // WorkerService awaits it once the app is up; a failure before then is not unhandled.
  classifier.catch(() => undefined);
  return { classifier, log };
}
