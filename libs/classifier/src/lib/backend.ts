import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { ModelLoadError } from './errors';
import type { BackendPreference } from './backend-types';
import type { ClassifierLogger } from './logger';

/** Loads the native backend; it is an optional dependency that cannot install everywhere. */
function loadTfjsNode(): void {
  // A plain require, so that bundlers leave it to run time (it is external in the worker's build).
  require('@tensorflow/tfjs-node');
}

/**
 * Chooses and initialises the TensorFlow.js backend:
 * - `auto`: `tensorflow` (tfjs-node, native) when it loads, else `wasm`;
 * - `tensorflow` / `wasm`: that one, or a start-up error;
 * - `cpu`: pure JavaScript, about 25x slower than wasm: only when asked for, with a warning.
 */
export async function selectBackend(preference: BackendPreference, log: ClassifierLogger): Promise<string> {
  let tfjsNodeError: string | undefined;
  if (preference === 'auto' || preference === 'tensorflow') {
    try {
      loadTfjsNode();
      if (await tf.setBackend('tensorflow')) {
        await tf.ready();
        return tf.getBackend();
      }
      tfjsNodeError = 'the tensorflow backend did not initialise';
    } catch (err) {
      tfjsNodeError = (err as Error).message?.split('\n')[0] ?? String(err);
    }
    if (preference === 'tensorflow') {
      throw new ModelLoadError(`TF_BACKEND=tensorflow but @tensorflow/tfjs-node cannot be used: ${tfjsNodeError}`);
    }
    log.info({ reason: tfjsNodeError }, '@tensorflow/tfjs-node is not available; using the wasm backend');
  }
  const name = preference === 'cpu' ? 'cpu' : 'wasm';
  if (name === 'cpu') {
    log.warn({ backend: 'cpu' }, 'TF_BACKEND=cpu: the pure-JavaScript backend is about 25 times slower than wasm');
  }
  if (!(await tf.setBackend(name))) throw new ModelLoadError(`the ${name} backend did not initialise`);
  // The wasm backend compiles its module asynchronously: wait for it.
  await tf.ready();
  return tf.getBackend();
}
