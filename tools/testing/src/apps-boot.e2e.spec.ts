import { APPS } from '@app/contracts';
import { spawnApp, stopAllApps } from './apps';
import { MODEL_DIR } from './fixtures';
import { startTestStack, type TestStack } from './stack';

describe('every app boots, validates its configuration and stops on SIGTERM', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(async () => {
    await stopAllApps(); // an app that did not exit when it should have
    await stack.stop();
  });

  it.each(APPS)('%s logs ready and exits 0 on SIGTERM', async (app) => {
    const run = spawnApp(app, { ...stack.env, LOG_LEVEL: 'info', PORT: '0', MODEL_DIR: process.env['MODEL_DIR'] ?? MODEL_DIR });
    try {
      const ready = await run.waitForLine(new RegExp(`${app} ready`));
      expect(JSON.parse(ready)).toMatchObject({ level: 30, app, msg: expect.stringContaining('ready') });
    } finally {
      expect(await run.stop()).toBe(0);
    }
  });

  it.each(APPS)('%s refuses a bad variable, naming it, with exit code 2 (usage)', async (app) => {
    const run = spawnApp(app, { ...stack.env, MAX_WORKERS: 'lots', LAUNCH_QUEUE_URL: '' });
    expect(await run.exited).toBe(2);
    const out = run.lines.join('\n');
    expect(out).toContain(`${app}: invalid configuration`);
    expect(out).toMatch(/MAX_WORKERS: MAX_WORKERS must be an integer number \(got "lots"\)/);
    expect(out).toMatch(/LAUNCH_QUEUE_URL: .* \(it is not set\)/);
  });
});
