/**
 * The built worker (dist/apps/classifier-worker/main.js, made by this project's
 * build, on which its test target depends) as a real process against the
 * embedded S3/SQS.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { getPriority } from 'node:os';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WORKER_STATE_TAG, isWorkerStatusMessage, type WorkerStatusMessage } from '@app/contracts';
import { appMain, MODEL_DIR, spawnApp, startTestStack, stopAllApps, WORKSPACE_ROOT, type TestStack } from '@tools/testing';
import { enqueue, outputs, photos, storedResult } from '../test/worker-test-kit';

const json = (line: string) => JSON.parse(line) as Record<string, unknown>;
/** Each thread of the process and its nice value, as the kernel has it. */
const threadNices = (pid: number) => new Map(readdirSync(`/proc/${pid}/task`).map((t) => [Number(t), getPriority(Number(t))]));

describe('classifier-worker process', () => {
  let stack: TestStack;
  beforeEach(async () => {
    stack = await startTestStack();
  });
  afterEach(async () => {
    // A worker a failed test left running (e.g. it never logged what the test waited for) is stopped here.
    await stopAllApps();
    await stack.stop();
  });
  const env = (extra: Record<string, string> = {}) => ({
    ...stack.env,
    LOG_LEVEL: 'info',
    MODEL_DIR,
    WORKER_ID: 'local-9',
    POLL_WAIT_SECONDS: '1',
    ...extra,
  });

  it('logs when it starts polling, classifies, and exits 0 by itself after IDLE_SECONDS', async () => {
    const sent = await enqueue(stack, photos(5));
    const started = Date.now();
    const run = spawnApp('classifier-worker', env({ IDLE_SECONDS: '2' }));
    const polling = json(await run.waitForLine(/polling the launch queue/, 60_000));
    expect(polling).toMatchObject({ workerId: 'local-9', backend: expect.any(String), model: 'mobilenet_v1_025_224', coldStartMs: expect.any(Number) });
    // Loaded before the app's logger existed (preload.ts), logged through it once it did.
    expect(run.lines.filter((l) => l.includes('"model loaded on the')).map(json)).toEqual([
      expect.objectContaining({ app: 'classifier-worker', context: 'WorkerService', model: 'mobilenet_v1_025_224' }),
    ]);
    // The model thread first (WORKER_OTHER_THREADS_NICE unset: 5 for this TF.js model, whose threads are its own): the event loop runs 5 below it, the model thread as started.
    const nices = threadNices(run.process.pid ?? 0);
    const base = getPriority(0);
    expect(nices.get(run.process.pid ?? 0)).toBe(Math.min(19, base + 5));
    expect([...nices.values()].filter((n) => n === base).length).toBeGreaterThan(0);
    expect(await run.exited).toBe(0);
    expect(Date.now() - started).toBeGreaterThan(2000);
    expect(run.lines.some((l) => l.includes('"idle: exiting"'))).toBe(true);
    const out = await outputs(stack, 5);
    expect(out.map((o) => o.status)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    for (const m of sent) expect(await storedResult(stack, m.imageId)).toMatchObject({ producedBy: 'local-9' });
    const logged = run.lines.filter((l) => l.includes('"image classified"')).map(json);
    expect(logged).toHaveLength(5);
    expect(logged[0]).toMatchObject({ imageId: expect.any(String), batchId: sent[0].batchId, attempt: 1, timings: expect.any(Object) });
  }, 90_000);

  it('stops at start with the reason, exit 2, when its model cannot be loaded', async () => {
    const run = spawnApp('classifier-worker', env({ MODEL_DIR: '/nonexistent-model-dir' }));
    expect(await run.exited).toBe(2);
    expect(run.lines.join('\n')).toMatch(/classifier-worker: failed to start:[\s\S]*nonexistent-model-dir/);
  }, 60_000);

  it('on SIGTERM mid-image finishes what it took, stops polling and exits 0, losing no image', async () => {
    const sent = await enqueue(stack, photos(60));
    const run = spawnApp('classifier-worker', env({ IDLE_SECONDS: '600', WORKER_PREFETCH: '20' }));
    await run.waitForLine(/"image classified"/, 60_000);
    expect(await run.stop()).toBe(0);
    expect(run.lines.some((l) => l.includes('classifier-worker stopping (SIGTERM)'))).toBe(true);
    const done = run.lines.filter((l) => l.includes('"image classified"')).length;
    expect(done).toBeGreaterThan(0);
    const results = (await Promise.all(sent.map((m) => storedResult(stack, m.imageId)))).filter(Boolean);
    expect(results).toHaveLength(done);
    // Nothing claimed is abandoned; an unclaimed message a cut-short poll took comes back after its visibility timeout.
    const left = await stack.resources.launchQueue.depth();
    expect(left.inFlight).toBeLessThanOrEqual(10);
    expect(done + left.visible + left.inFlight).toBe(60);
  }, 90_000);

  it('reports its state over the IPC channel the fleet opens', async () => {
    await enqueue(stack, photos(3));
    const child = spawn(process.execPath, [appMain('classifier-worker')], {
      cwd: WORKSPACE_ROOT,
      env: { PATH: process.env['PATH'] ?? '', ...env({ IDLE_SECONDS: '2' }) },
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    });
    const statuses: WorkerStatusMessage[] = [];
    child.on('message', (m) => isWorkerStatusMessage(m) && statuses.push(m));
    const exited = new Promise((r) => child.once('exit', r));
    // Not spawned through spawnApp: a timeout of this test must still not leave it running.
    const kill = setTimeout(() => child.kill('SIGKILL'), 80_000);
    const code = await exited.finally(() => clearTimeout(kill));
    expect(code).toBe(0);
    const states = statuses.map((s) => s.state);
    expect(states[0]).toBe('starting');
    expect(states).toContain('busy');
    expect(states.at(-1)).toBe('stopping');
    expect(statuses.every((s) => s.workerId === 'local-9')).toBe(true);
    expect(statuses.at(-1)?.imagesDone).toBe(3);
  }, 90_000);

  it('on EC2: takes its id from IMDSv2, tags its state, and exits 0 when idle without calling TerminateInstances', async () => {
    const instanceId = 'i-0abc1234def567890';
    const calls: Record<string, string>[] = [];
    // One fake endpoint for both the instance metadata service and the EC2 API.
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.url === '/latest/api/token') return void res.end('tok');
        if (req.url === '/latest/meta-data/instance-id') return void res.end(instanceId);
        // No Spot interruption notice (the worker polls for one every 250 ms): IMDS answers 404.
        if (req.url?.startsWith('/latest/')) return void res.writeHead(404).end();
        const params = Object.fromEntries(new URLSearchParams(body));
        calls.push(params);
        res.setHeader('content-type', 'text/xml');
        const ns = 'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"';
        res.end(
          params['Action'] === 'TerminateInstances'
            ? `<TerminateInstancesResponse ${ns}><requestId>r</requestId><instancesSet><item><instanceId>${instanceId}</instanceId><currentState><code>32</code><name>shutting-down</name></currentState><previousState><code>16</code><name>running</name></previousState></item></instancesSet></TerminateInstancesResponse>`
            : `<CreateTagsResponse ${ns}><requestId>r</requestId><return>true</return></CreateTagsResponse>`,
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const [sent] = await enqueue(stack, photos(1));
      const run = spawnApp(
        'classifier-worker',
        env({ WORKER_PLATFORM: 'ec2', WORKER_ID: '', AWS_EC2_METADATA_SERVICE_ENDPOINT: endpoint, AWS_ENDPOINT_URL_EC2: endpoint, IDLE_SECONDS: '2' }),
      );
      expect(await run.exited).toBe(0);
      expect(await storedResult(stack, sent.imageId)).toMatchObject({ producedBy: instanceId });
      const tags = calls.filter((c) => c['Action'] === 'CreateTags');
      // The instance was launched tagged 'starting'. The worker tags the latest state it has when
      // a tag goes out: 'starting' again, or already 'free' when its model (loading since the
      // process started) was ready by then. Then 'busy' for the image.
      expect(tags[0]).toMatchObject({ 'ResourceId.1': instanceId, 'Tag.1.Key': WORKER_STATE_TAG });
      expect(['starting', 'free']).toContain(tags[0]['Tag.1.Value']);
      expect(tags.map((t) => t['Tag.1.Value'])).toContain('busy');
      // Its unit powers the instance off when it exits 0; the worker role has no TerminateInstances.
      expect(calls.filter((c) => c['Action'] === 'TerminateInstances')).toHaveLength(0);
      expect(calls.at(-1)).toMatchObject({ Action: 'CreateTags' });
      expect(run.lines.some((l) => l.includes('"idle: ending this instance"'))).toBe(true);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  }, 90_000);
});
