import { join } from 'node:path';
import { spawnApp, startTestStack, WORKSPACE_ROOT, type RunningApp, type TestStack } from '@tools/testing';

/**
 * The built worker (dist/apps/classifier-worker/main.js, as the artifact, the AMI and the
 * Docker image run it) with no MODEL_DIR or MODEL_URL loads the default model from its own
 * folder, checked against its checksums: nothing outside the artifact is needed.
 */
describe('the built worker with no model variables', () => {
  let stack: TestStack | undefined;
  let worker: RunningApp | undefined;
  afterAll(async () => {
    await worker?.stop();
    await stack?.stop();
  });

  it('loads EfficientNet-B0 from default-model/ beside main.js', async () => {
    stack = await startTestStack();
    const env: Record<string, string> = { ...stack.env, LOG_LEVEL: 'info', WORKER_ID: 'default-model-1' };
    for (const k of ['MODEL_DIR', 'MODEL_URL', 'MODEL_SHA256']) delete env[k];
    worker = spawnApp('classifier-worker', env);
    const chosen = JSON.parse(await worker.waitForLine(/using the default model/, 120_000)) as { modelDir: string };
    expect(chosen.modelDir).toBe(join(WORKSPACE_ROOT, 'dist/apps/classifier-worker/default-model'));
    const loaded = JSON.parse(await worker.waitForLine(/model loaded/, 120_000)) as Record<string, unknown>;
    expect(loaded).toMatchObject({ model: 'efficientnet-b0', outputs: 1000, labelOffset: 0, cropFraction: 0.875, resizeKernel: 'cubic' });
    await worker.waitForLine(/polling the launch queue/, 60_000);
    expect(await worker.stop()).toBe(0);
  }, 300_000);
});
