import type { ClassifierLogger } from '@app/classifier';
import { MODEL_DIR } from '@tools/testing';
import { preloadModel } from './preload';

/** The preloaded model, failing the test when none was started. */
function started(preloaded: ReturnType<typeof preloadModel>): NonNullable<ReturnType<typeof preloadModel>> {
  if (!preloaded) throw new Error('preloadModel started nothing');
  return preloaded;
}

/** What a worker needs to be configured at all (the model load reads only its own variables): its three queues. */
const WORKER_ENV = Object.fromEntries(['LAUNCH', 'MONITOR', 'OUTPUT'].map((q) => [`${q}_QUEUE_URL`, `http://127.0.0.1:9/000000000000/${q.toLowerCase()}`]));

describe('the model load started before the worker app loads', () => {
  it('loads the configured model, and holds its log lines until the app attaches its logger', async () => {
    const preloaded = started(preloadModel({ ...WORKER_ENV, MODEL_DIR, INFERENCE_THREAD: 'false' }));
    const classifier = await preloaded.classifier;
    try {
      expect(classifier.model).toBe('mobilenet_v1_025_224');
      const lines: string[] = [];
      const app: ClassifierLogger = { info: (_, m) => lines.push(m), warn: (_, m) => lines.push(m) };
      preloaded.log.attach(app);
      expect(lines.some((m) => /^model loaded on the .* backend$/.test(m))).toBe(true);
    } finally {
      await classifier.close();
    }
  });

  it('starts nothing when the configuration is not valid (the app then says why and exits)', () => {
    expect(preloadModel({ ...WORKER_ENV, MODEL_DIR, POLL_WAIT_SECONDS: 'soon' })).toBeUndefined();
    expect(preloadModel({})).toBeUndefined();
  });

  it('carries a failed model load to whoever awaits it, never as an unhandled rejection', async () => {
    const preloaded = started(preloadModel({ ...WORKER_ENV, MODEL_DIR: '/nonexistent-model-dir', INFERENCE_THREAD: 'false' }));
    await new Promise((r) => setImmediate(r));
    await expect(preloaded.classifier).rejects.toThrow(/nonexistent-model-dir/);
  });
});
