/**
 * Test helpers for the web tier: the app in-process on a free port, a
 * stand-in worker, and counters of what reached the buckets and queues.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, request, type IncomingMessage } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { NestFactory } from '@nestjs/core';
import { parseSse, SseParser } from '@app/api-client';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { AwsResources } from '@app/aws';
import { loadConfig, type AppConfig } from '@app/config';
import { outputError, outputSuccess, parseLaunchMessage, resultKey, serialize, type LaunchMessage } from '@app/contracts';
import { eventually, MODEL_DIR, SMALL_IMAGES_DIR, smallImage, smallImageNames, spawnApp, startTestStack, WORKSPACE_ROOT, type RunningApp, type TestStack } from '@tools/testing';
import { AppModule } from '../src/app/app.module';
import { configureWebApp } from '../src/app/configure';

export { eventually };

/** The repository's rendered 64x64 JPEGs, named like the classic workload's: `test_<i>.JPEG`. */
export const IMAGES_DIR = SMALL_IMAGES_DIR;
export const BUILT_PAGE_DIR = join(WORKSPACE_ROOT, 'dist/apps/web-tier/page');

/** The i-th small test JPEG, `test_<i>.JPEG`. */
export const datasetImage = smallImage;

export interface WebApp {
  app: NestExpressApplication;
  config: AppConfig;
  url: string;
  close(): Promise<void>;
}

/** The web tier in this process (compiled by swc, as every spec), listening on 127.0.0.1 on a free port. */
export async function startWebApp(stack: TestStack, env: Record<string, string> = {}): Promise<WebApp> {
  const config = loadConfig({ ...stack.env, LOG_LEVEL: 'error', WEB_PAGE_DIR: BUILT_PAGE_DIR, OUTPUT_POLL_SECONDS: '1', ...env });
  const app = await NestFactory.create<NestExpressApplication>(AppModule.register(config), { logger: false });
  try {
    await configureWebApp(app, config);
    await app.listen(0, '127.0.0.1');
  } catch (err) {
    await app.close();
    throw err;
  }
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return { app, config, url, close: () => app.close() };
}

/**
 * Closes a web tier. Its consumer aborts its last output poll; a message the edge
 * hands that poll all the same is given back at once (abandoned-receives.ts), so
 * the next tier receives it without waiting out its visibility timeout.
 */
export async function closeTier(web: WebApp | undefined): Promise<void> {
  await web?.close();
}

/** A test file's web tiers: see webTiersPerTest. */
export interface WebTiers {
  /** The file's test stack (started in beforeAll). */
  readonly stack: TestStack;
  /** The running tier: a test's requests go here, after a restart to the new one. */
  readonly tier: WebApp;
  /** Starts a tier on the stack, closing the running one first (a restart). */
  start(env?: Record<string, string>): Promise<WebApp>;
}

/**
 * One test stack for a file's tests and a web tier of each test's own: registers the
 * file's hooks (stack up before all, the test's tier closed after each, then
 * `afterEachTest`, the stack stopped after all).
 */
export function webTiersPerTest(options: { afterEachTest?: (stack: TestStack) => Promise<void> } = {}): WebTiers {
  let stack: TestStack | undefined;
  let web: WebApp | undefined;
  const closeRunning = async () => {
    const running = web;
    web = undefined;
    await closeTier(running);
  };
  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterEach(async () => {
    await closeRunning();
    if (stack) await options.afterEachTest?.(stack);
  });
  afterAll(() => stack?.stop());
  return {
    get stack() {
      if (!stack) throw new Error('the test stack is not running');
      return stack;
    },
    get tier() {
      if (!web) throw new Error('the web tier is not running');
      return web;
    },
    async start(env = {}) {
      await closeRunning();
      web = await startWebApp(this.stack, env);
      return web;
    },
  };
}

/** Deletes every launch message and every input object: a stack shared by a file's tests, left empty for the next. */
export async function emptyUploads(aws: AwsResources): Promise<void> {
  for (let left = await aws.launchQueue.receive({ maxMessages: 10 }); left.length > 0; left = await aws.launchQueue.receive({ maxMessages: 10 })) {
    await aws.launchQueue.deleteBatch(left.map((m) => m.receiptHandle));
  }
  for (const o of await aws.inputBucket.list()) await aws.inputBucket.delete(o.key);
}

/** Objects in the input bucket, and launch messages waiting or in flight. */
export async function counts(aws: AwsResources): Promise<{ objects: number; messages: number }> {
  const [objects, depth] = await Promise.all([aws.inputBucket.list(), aws.launchQueue.depth()]);
  return { objects: objects.length, messages: depth.visible + depth.inFlight + depth.delayed };
}

export function form(field: string, files: { name: string; bytes: Buffer | Uint8Array; type?: string }[]): FormData {
  const f = new FormData();
  for (const file of files) f.append(field, new Blob([new Uint8Array(file.bytes)], { type: file.type ?? 'application/octet-stream' }), file.name);
  return f;
}

/** The label the stand-in worker gives: a function of the stored bytes, so a test can check the bytes made the trip. */
export function fakeLabel(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex').slice(0, 12)}`;
}

export interface FakeWorker {
  /** Launch messages it took, in order. */
  taken: LaunchMessage[];
  stop(): Promise<void>;
}

/**
 * Stands in for classifier-worker where a test needs results but not the
 * model: takes launch messages, reads the stored image, writes a real
 * OutputSuccess (label from the bytes, see fakeLabel) to the output bucket and
 * the output queue. `fail` makes chosen images end in an OutputError instead.
 */
export function startFakeWorker(
  aws: AwsResources,
  options: { fail?: (m: LaunchMessage) => { reason: string; permanent: boolean } | undefined; delayMs?: number } = {},
): FakeWorker {
  // No abort of a receive in flight: the emulator may already have handed out a
  // message the client would then drop (invisible until its timeout). Stopping
  // waits for the current one-second poll instead.
  let stopping = false;
  const taken: LaunchMessage[] = [];
  const loop = (async () => {
    while (!stopping) {
      let received;
      try {
        received = await aws.launchQueue.receive({ maxMessages: 10, waitSeconds: 1 });
      } catch {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      await Promise.all(
        received.map(async (m) => {
          const launch = parseLaunchMessage(m.body);
          taken.push(launch);
          if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
          const bytes = await aws.inputBucket.getBuffer(launch.inputKey);
          const base = {
            batchId: launch.batchId,
            imageId: launch.imageId,
            fileName: launch.fileName,
            attempt: launch.attempt,
            producedBy: 'fake-worker',
            completedAt: new Date().toISOString(),
          };
          const failure = options.fail?.(launch);
          const result = failure
            ? outputError({ ...base, ...failure })
            : outputSuccess({
                ...base,
                label: fakeLabel(bytes),
                confidence: 0.5,
                top5: [{ label: fakeLabel(bytes), classIndex: 1, confidence: 0.5 }],
                timings: { totalMs: 1 },
              });
          await aws.outputBucket.put(resultKey(launch.imageId), serialize(result), { contentType: 'application/json' });
          await aws.outputQueue.send(serialize(result));
          await aws.launchQueue.delete(m.receiptHandle);
        }),
      );
    }
  })();
  return {
    taken,
    async stop() {
      stopping = true;
      await loop;
    },
  };
}

const WORKER_MAIN = join(WORKSPACE_ROOT, 'dist/apps/classifier-worker/main.js');

/**
 * True once the built classifier-worker is the real worker, not the boot
 * skeleton it started as: the real one parses launch messages.
 */
export function realWorkerBuilt(): boolean {
  return existsSync(WORKER_MAIN) && readFileSync(WORKER_MAIN, 'utf8').includes('parseLaunchMessage');
}

/** The real classifier-worker process, with the shared model. */
export async function startRealWorker(stack: TestStack, id = 'test-1'): Promise<RunningApp> {
  const worker = spawnApp('classifier-worker', {
    ...stack.env,
    MODEL_DIR,
    WORKER_ID: id,
    IDLE_SECONDS: '60',
    POLL_WAIT_SECONDS: '1',
    LOG_LEVEL: 'info',
  });
  // Ready to take images once its model is loaded and it polls.
  await worker.waitForLine(/polling the launch queue/, 90_000);
  return worker;
}

/** The 1000 ImageNet class names the classifier answers with. */
/**
 * The ImageNet labels the classifier lib ships, read as a file: importing the lib would make the
 * web tier depend on it in the project graph, and so put TensorFlow.js and ONNX Runtime in its artifact.
 */
export const IMAGENET_LABELS: readonly string[] = JSON.parse(readFileSync(join(WORKSPACE_ROOT, 'libs/classifier/src/lib/imagenet-labels.json'), 'utf8'));

export const listDatasetImages = smallImageNames;

/** Reads a batch's server-sent events until `done` (or the stream ends). */
export async function readEvents(url: string, headers: Record<string, string> = {}): Promise<{ event: string; data: unknown }[]> {
  const res = await fetch(url, { headers });
  if (!res.ok || !res.body) throw new Error(`events: HTTP ${res.status}: ${await res.text()}`);
  const out: { event: string; data: unknown }[] = [];
  for await (const ev of parseSse(res.body)) {
    out.push({ event: ev.event, data: JSON.parse(ev.data) });
    if (ev.event === 'done') break;
  }
  return out;
}

/** A loopback port nothing listens on. */
export async function deadEndpoint(): Promise<string> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return `http://127.0.0.1:${port}`;
}

/**
 * An HTTP proxy in front of the embedded S3 that answers the requests `fail`
 * picks with an S3 error (by default 503 SlowDown) and forwards the rest: a
 * real fault on the wire. Counts the requests it saw.
 */
export interface S3Fault {
  status: number;
  code: string;
  message: string;
}
export async function faultyS3(
  target: string,
  fail: (req: IncomingMessage) => boolean | S3Fault,
): Promise<{ url: string; requests: { method: string; url: string }[]; close(): Promise<void> }> {
  const to = new URL(target);
  const requests: { method: string; url: string }[] = [];
  const server = createHttpServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '' });
    const fault = fail(req);
    if (fault) {
      const f = fault === true ? { status: 503, code: 'SlowDown', message: 'injected by the test' } : fault;
      // The answer after the whole body: answered early, a loaded machine's client may still be
      // writing and see EPIPE (an unreachable S3) instead of the injected error.
      req.resume();
      req.once('end', () => {
        res.writeHead(f.status, { 'content-type': 'application/xml' });
        res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${f.code}</Code><Message>${f.message}</Message></Error>`);
      });
      return;
    }
    const up = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Takes n launch messages off the queue (the test playing the worker). */
export async function takeLaunches(aws: AwsResources, n: number, timeoutMs = 10_000): Promise<LaunchMessage[]> {
  const taken: LaunchMessage[] = [];
  await eventually(async () => {
    const got = await aws.launchQueue.receive({ maxMessages: 10, waitSeconds: 0 });
    if (got.length > 0) await aws.launchQueue.deleteBatch(got.map((m) => m.receiptHandle));
    taken.push(...got.map((m) => parseLaunchMessage(m.body)));
    return taken.length >= n;
  }, timeoutMs);
  return taken;
}

/** A worker's success result for a launch message, with the label given. */
export function resultFor(launch: LaunchMessage, label: string, attempt = launch.attempt) {
  return outputSuccess({
    batchId: launch.batchId,
    imageId: launch.imageId,
    fileName: launch.fileName,
    attempt,
    producedBy: `test-worker-${attempt}`,
    completedAt: new Date().toISOString(),
    label,
    confidence: 0.5,
    top5: [{ label, classIndex: 1, confidence: 0.5 }],
    timings: { totalMs: 1 },
  });
}

/** Writes a result where a worker writes it: the output bucket and/or the output queue. */
export async function publishResult(aws: AwsResources, result: ReturnType<typeof resultFor>, to: { bucket?: boolean; queue?: boolean } = { bucket: true, queue: true }): Promise<void> {
  if (to.bucket) await aws.outputBucket.put(resultKey(result.imageId), serialize(result), { contentType: 'application/json' });
  if (to.queue) await aws.outputQueue.send(serialize(result));
}

export interface SseEventSeen {
  event: string;
  id?: string;
  data: unknown;
}

/**
 * Opens a batch's event stream and collects its events (and the raw text,
 * comments included) until it ends or `until` says stop; abort() drops it.
 */
export function openEvents(url: string, headers: Record<string, string> = {}, until: (e: SseEventSeen) => boolean = (e) => e.event === 'done') {
  const abort = new AbortController();
  const events: SseEventSeen[] = [];
  let raw = '';
  const finished = (async () => {
    const res = await fetch(url, { headers, signal: abort.signal });
    if (!res.ok || !res.body) throw new Error(`events: HTTP ${res.status}: ${await res.text()}`);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    const parser = new SseParser();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const text = decoder.decode(value, { stream: true });
        raw += text;
        let stop = false;
        for (const ev of parser.push(text)) {
          const seen: SseEventSeen = { event: ev.event, data: JSON.parse(ev.data) };
          if (ev.id !== undefined) seen.id = ev.id;
          events.push(seen);
          if ((stop = until(seen))) break;
        }
        if (stop) break;
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err;
    } finally {
      abort.abort();
    }
    return events;
  })();
  return {
    events,
    get raw() {
      return raw;
    },
    finished,
    abort: () => abort.abort(),
  };
}
