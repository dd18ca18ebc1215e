/**
 * `npm run bench:web`: 100 concurrent uploads of the classic workload's 64×64
 * JPEGs to the built web tier (dist/apps/web-tier: `npx nx build web-tier`),
 * on the embedded S3/SQS over loopback:
 *
 *  1. POST /api/images, 100 requests of one file each, all at once;
 *  2. POST /api/images, one request with all 100 files;
 *  3. POST / (classic), 100 requests at once. A classic request is held until
 *     its result, so "accepted" (stored + enqueued) is read from the web tier's
 *     own counter (ics_web_uploads_total{mode="classic",outcome="accepted"});
 *     with the real classifier-worker built, one worker answers them and the
 *     time until the last answer is reported too.
 *
 * Each figure is the median of --rounds rounds (default 5), with min and max.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT, parseCommandLine, runMain, writeJsonOutput } from '@app/command-line';
import { DATASET_DIR, MODEL_DIR, spawnApp, startTestStack, WORKSPACE_ROOT, type RunningApp, type TestStack } from '@tools/testing';

const IMAGES = join(DATASET_DIR, 'imagenet-100/images');
type UploadFile = { name: string; bytes: Buffer };
let loaded: UploadFile[] | undefined;
/** The classic 100 photos, read on first use (so that --help and usage errors need no ../shared). */
function files(): UploadFile[] {
  loaded ??= Array.from({ length: 100 }, (_, i) => ({ name: `test_${i}.JPEG`, bytes: readFileSync(join(IMAGES, `test_${i}.JPEG`)) }));
  return loaded;
}

function form(field: string, list: UploadFile[]): FormData {
  const f = new FormData();
  for (const file of list) f.append(field, new Blob([new Uint8Array(file.bytes)], { type: 'image/jpeg' }), file.name);
  return f;
}

async function startWeb(stack: TestStack): Promise<{ run: RunningApp; url: string }> {
  const run = spawnApp('web-tier', { ...stack.env, LOG_LEVEL: 'info', PORT: '0', HOST: '127.0.0.1' });
  const ready = await run.waitForLine(/web-tier ready on/, 60_000);
  const port = /:(\d+)\b/.exec(JSON.parse(ready).msg as string)?.[1];
  return { run, url: `http://127.0.0.1:${port}` };
}

function expectStatus(res: Response, status: number, what: string): void {
  if (res.status !== status) throw new Error(`${what}: HTTP ${res.status}, expected ${status}`);
}

async function manySingles(url: string): Promise<number> {
  const t0 = performance.now();
  const all = await Promise.all(files().map((f) => fetch(`${url}/api/images`, { method: 'POST', body: form('images', [f]) })));
  const ms = performance.now() - t0;
  for (const r of all) expectStatus(r, 202, 'POST /api/images');
  await Promise.all(all.map((r) => r.arrayBuffer()));
  return ms;
}

async function oneBatch(url: string): Promise<number> {
  const t0 = performance.now();
  const r = await fetch(`${url}/api/images`, { method: 'POST', body: form('images', files()) });
  const ms = performance.now() - t0;
  expectStatus(r, 202, 'POST /api/images (100 files)');
  const body = (await r.json()) as { images: unknown[] };
  if (body.images.length !== 100) throw new Error(`only ${body.images.length} images accepted`);
  return ms;
}

async function classicAccepted(url: string): Promise<number> {
  const m = /ics_web_uploads_total\{mode="classic",outcome="accepted"\} (\d+)/.exec(await (await fetch(`${url}/metrics`)).text());
  return Number(m?.[1] ?? 0);
}

/** Fires 100 classic requests; resolves with when all were accepted and, if answered, when the last answer came. */
async function classic(url: string, answered: boolean): Promise<{ acceptedMs: number; answeredMs?: number }> {
  const before = await classicAccepted(url);
  const abort = new AbortController();
  const t0 = performance.now();
  const requests = files().map((f) =>
    fetch(`${url}/`, { method: 'POST', body: form('myfile', [f]), signal: abort.signal }).then(async (r) => {
      expectStatus(r, 200, 'POST /');
      const text = await r.text();
      if (!text.startsWith(`${f.name.replace(/\.JPEG$/, '')}:`)) throw new Error(`unexpected answer ${text}`);
    }),
  );
  let acceptedMs = NaN;
  for (;;) {
    if ((await classicAccepted(url)) - before >= 100) {
      acceptedMs = performance.now() - t0;
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  if (!answered) {
    abort.abort();
    await Promise.allSettled(requests);
    return { acceptedMs };
  }
  await Promise.all(requests);
  return { acceptedMs, answeredMs: performance.now() - t0 };
}

function summary(xs: number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const r = (v: number) => Math.round(v);
  return { median: r(s[Math.floor(s.length / 2)]), min: r(s[0]), max: r(s[s.length - 1]) };
}

function realWorkerBuilt(): boolean {
  const main = join(WORKSPACE_ROOT, 'dist/apps/classifier-worker/main.js');
  return existsSync(main) && readFileSync(main, 'utf8').includes('parseLaunchMessage');
}

const values = parseCommandLine({
  name: 'npm run bench:web --',
  summary: 'Times 100 concurrent uploads through POST /api/images and the classic POST / against the built web tier and the embedded S3/SQS.',
  flags: {
    rounds: { type: 'string', description: 'rounds of each measurement (the median is reported)', default: '5', number: { integer: true, min: 1 } },
    json: { type: 'string', value: 'OUT', description: 'write the figures as JSON' },
  },
});

runMain('bench:web', async () => {
  const rounds = Number(values.rounds);

  // 1 and 2: no worker; messages simply accumulate in the launch queue.
  let stack = await startTestStack();
  let web = await startWeb(stack);
  const singles: number[] = [];
  const batches: number[] = [];
  try {
    await manySingles(web.url); // warm-up: connections, JIT
    await oneBatch(web.url);
    for (let i = 0; i < rounds; i++) {
      singles.push(await manySingles(web.url));
      batches.push(await oneBatch(web.url));
    }
  } finally {
    await web.run.stop();
    await stack.stop();
  }

  // 3: classic, on a fresh stack so that the worker sees only these images.
  stack = await startTestStack();
  web = await startWeb(stack);
  const withWorker = realWorkerBuilt();
  let worker: RunningApp | undefined;
  const accepted: number[] = [];
  const answered: number[] = [];
  try {
    if (withWorker) {
      worker = spawnApp('classifier-worker', { ...stack.env, MODEL_DIR, WORKER_ID: 'bench-1', IDLE_SECONDS: '600', LOG_LEVEL: 'info' });
      await worker.waitForLine(/polling the launch queue/, 90_000);
    }
    await classic(web.url, withWorker); // warm-up
    for (let i = 0; i < rounds; i++) {
      const r = await classic(web.url, withWorker);
      accepted.push(r.acceptedMs);
      if (r.answeredMs !== undefined) answered.push(r.answeredMs);
    }
  } finally {
    await worker?.stop();
    await web.run.stop();
    await stack.stop();
  }

  const result = {
    images: 100,
    imageBytes: files().reduce((n, f) => n + f.bytes.length, 0),
    rounds,
    apiOneFileEach100ConcurrentMs: summary(singles),
    apiOneRequest100FilesMs: summary(batches),
    classic100ConcurrentAcceptedMs: summary(accepted),
    classic100ConcurrentAnsweredMs: withWorker ? summary(answered) : null,
    classicWorkers: withWorker ? 1 : 0,
  };
  console.log(JSON.stringify(result));
  writeJsonOutput(values.json, result);
  console.log(`POST /api/images, 100 concurrent one-file requests: all 202 in ${result.apiOneFileEach100ConcurrentMs.median} ms (median of ${rounds})`);
  console.log(`POST /api/images, one request with 100 files: 202 in ${result.apiOneRequest100FilesMs.median} ms`);
  console.log(`POST / (classic), 100 concurrent: all stored and enqueued in ${result.classic100ConcurrentAcceptedMs.median} ms`);
  if (result.classic100ConcurrentAnsweredMs) {
    console.log(`POST / (classic), 100 concurrent: all answered with labels by one local worker in ${result.classic100ConcurrentAnsweredMs.median} ms`);
  }
  return EXIT.done;
});
