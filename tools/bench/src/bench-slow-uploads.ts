/**
 * Slow uploads against a normal one, on the built web tier (dist/apps/web-tier:
 * `npx nx build web-tier`) at its default limits, on the embedded S3/SQS:
 *
 *   npx tsx --tsconfig tsconfig.base.json tools/bench/src/bench-slow-uploads.ts [--slow 30] [--rate 100] [--json OUT]
 *
 *  1. alone: --rounds normal uploads of --normal-mib MiB (one JPEG-signed
 *     file, POST /api/images, declared length), one after another;
 *  2. with slow ones: --slow uploads open at once, each from its own client
 *     address (X-Forwarded-For, as the load balancer adds it), each declaring
 *     a length sized so that together they ask for all of
 *     UPLOAD_MAX_BYTES_IN_FLIGHT (the worst case for the upload memory), then
 *     sending --rate bytes a second; while they trickle, the same normal
 *     uploads again. Then it waits for every slow one's answer.
 *
 * Prints `normalUploadMs` alone and with the slow ones side by side (median
 * and max), each slow upload's status and how long it was held, and what is
 * left stored and queued: only the normal uploads may be.
 */
import { request } from 'node:http';
import { EXIT, parseCommandLine, runMain, writeJsonOutput } from '@app/command-line';
import { spawnApp, startTestStack } from '@tools/testing';

const values = parseCommandLine({
  name: 'npx tsx --tsconfig tsconfig.base.json tools/bench/src/bench-slow-uploads.ts',
  summary: 'Slow uploads (a few bytes a second) against a normal one: normalUploadMs alone and with the slow ones, their 408s, and what is left stored.',
  flags: {
    slow: { type: 'string', description: 'slow uploads at once', default: '30', number: { integer: true, min: 1 } },
    rate: { type: 'string', description: 'bytes a second each slow upload sends', default: '100', number: { integer: true, min: 1 } },
    'normal-mib': { type: 'string', description: 'MiB of the normal upload', default: '1', number: { min: 0.001 } },
    rounds: { type: 'string', description: 'normal uploads in each phase', default: '5', number: { integer: true, min: 1 } },
    json: { type: 'string', value: 'OUT', description: 'write the figures as JSON' },
  },
});
const SLOW = Number(values.slow);
const RATE = Number(values.rate);
const NORMAL_BYTES = Math.round(Number(values['normal-mib']) * 1024 * 1024);
const ROUNDS = Number(values.rounds);
/** The web tier's default UPLOAD_MAX_BYTES_IN_FLIGHT, which the slow uploads together ask for. */
const UPLOAD_MEMORY = 256 * 1024 * 1024;
const BOUNDARY = 'bench-slow-boundary-9d2f';
const TICK_MS = 100;

function jpeg(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size, seed % 251);
  b.set([0xff, 0xd8, 0xff, 0xe0], 0);
  b.writeUInt32BE(seed, 4);
  return b;
}

const partHead = (name: string) => `--${BOUNDARY}\r\nContent-Disposition: form-data; name="images"; filename="${name}"\r\nContent-Type: image/jpeg\r\n\r\n`;

/**
 * One normal upload, as a browser or curl sends it (declared length); its
 * answer time in ms. Over node:http, which reads an answer that comes before
 * the body is sent (a refusal), where fetch may only report a broken pipe.
 */
function normalUpload(url: string, seed: number): Promise<{ ms: number; status: number }> {
  const body = Buffer.concat([Buffer.from(partHead(`normal-${seed}.jpg`)), jpeg(NORMAL_BYTES, seed), Buffer.from(`\r\n--${BOUNDARY}--\r\n`)]);
  const { port } = new URL(url);
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/api/images',
      headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'content-length': String(body.length) },
    });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      res.resume();
      res.on('end', () => resolve({ ms: performance.now() - started, status: res.statusCode ?? 0 }));
    });
    req.on('error', () => {
      if (!answered) resolve({ ms: performance.now() - started, status: 0 });
    });
    req.end(body);
  });
}

interface SlowOutcome {
  status: number;
  heldMs: number;
  sentBytes: number;
}

/** One slow upload over node:http (which reads an answer that comes before the body is done). */
function slowUpload(url: string, i: number, declared: number): Promise<SlowOutcome> {
  const { port } = new URL(url);
  const started = performance.now();
  return new Promise((resolve) => {
    let sent = 0;
    const req = request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/api/images',
      headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'content-length': String(declared), 'x-forwarded-for': `10.1.${i >> 8}.${i & 255}` },
    });
    const send = (b: Buffer) => {
      if (sent + b.length > declared) return;
      sent += b.length;
      req.write(b);
    };
    send(Buffer.from(partHead(`slow-${i}.jpg`)));
    send(jpeg(12, i));
    const per = Math.max(1, Math.round((RATE * TICK_MS) / 1000));
    const timer = setInterval(() => send(Buffer.alloc(per, 7)), TICK_MS);
    const done = (status: number) => {
      clearInterval(timer);
      resolve({ status, heldMs: performance.now() - started, sentBytes: sent });
    };
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
    });
    // The server closes a cut upload's connection under the writer; only an error before any answer counts.
    req.on('error', () => done(0));
  });
}

function summary(ms: number[]): { median: number; max: number; samples: number[] } {
  const sorted = [...ms].sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 10) / 10;
  return { median: round(sorted[Math.floor(sorted.length / 2)]), max: round(sorted[sorted.length - 1]), samples: ms.map(round) };
}

async function normalRounds(url: string, seed: number): Promise<{ ms: number[]; statuses: number[] }> {
  const ms: number[] = [];
  const statuses: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const one = await normalUpload(url, seed + r);
    ms.push(one.ms);
    statuses.push(one.status);
  }
  return { ms, statuses };
}

runMain('bench-slow-uploads', async () => {
  const stack = await startTestStack();
  const web = spawnApp('web-tier', { ...stack.env, LOG_LEVEL: 'info', PORT: '0', HOST: '127.0.0.1', OUTPUT_POLL_SECONDS: '1' });
  try {
    const ready = await web.waitForLine(/web-tier ready on/, 60_000);
    const port = /:(\d+)\b/.exec(JSON.parse(ready).msg as string)?.[1];
    const url = `http://127.0.0.1:${port}`;
    // Warm-up (connections, first S3 and SQS calls), not counted.
    await normalUpload(url, 999_999);

    const alone = await normalRounds(url, 1_000);

    const declared = Math.floor(UPLOAD_MEMORY / SLOW);
    const slowStarted = performance.now();
    const slow = Array.from({ length: SLOW }, (_, i) => slowUpload(url, i, declared));
    // A ramp, not a wait for an event: every slow upload is taken in and trickling before the normal ones go.
    await new Promise((r) => setTimeout(r, 1000));
    const during = await normalRounds(url, 2_000);
    const duringEndedAtMs = performance.now() - slowStarted;
    const outcomes = await Promise.all(slow);

    const [objects, depth] = await Promise.all([stack.resources.inputBucket.list(), stack.resources.launchQueue.depth()]);
    const messages = depth.visible + depth.inFlight + depth.delayed;
    const normalAccepted = [...alone.statuses, ...during.statuses].filter((s) => s === 202).length + 1;
    const statuses: Record<string, number> = {};
    for (const o of outcomes) statuses[o.status] = (statuses[o.status] ?? 0) + 1;
    const figures = {
      normalUploadMs: { alone: summary(alone.ms), withSlow: summary(during.ms) },
      normalStatuses: { alone: alone.statuses, withSlow: during.statuses },
      /** The normal uploads during the slow ones all ended before the first slow one was cut. */
      withSlowEndedAtMs: Math.round(duringEndedAtMs),
      slow: {
        count: SLOW,
        bytesPerSecond: RATE,
        declaredBytes: declared,
        statuses,
        heldSeconds: { min: Math.min(...outcomes.map((o) => o.heldMs)) / 1000, max: Math.max(...outcomes.map((o) => o.heldMs)) / 1000 },
      },
      left: { objects: objects.length, messages, normalUploadsAccepted: normalAccepted },
      /** The goal: every slow one cut with 408, every normal one accepted, nothing else left, the median delayed by at most 1 s. */
      goalMet: false,
    };
    const a = figures.normalUploadMs.alone;
    const w = figures.normalUploadMs.withSlow;
    console.log(`normalUploadMs (${(NORMAL_BYTES / 1024 / 1024).toFixed(1)} MiB, ${ROUNDS} each)   alone: median ${a.median}, max ${a.max}   with ${SLOW} slow: median ${w.median}, max ${w.max}   (delay of the slowest: ${(w.max - a.median).toFixed(1)} ms)`);
    console.log(`normal statuses: alone ${alone.statuses.join(',')}; with slow ${during.statuses.join(',')} (all done ${(duringEndedAtMs / 1000).toFixed(1)} s after the slow ones opened)`);
    console.log(`slow uploads: ${SLOW} at ${RATE} bytes/s, each declaring ${declared} bytes; answers ${JSON.stringify(statuses)}, held ${figures.slow.heldSeconds.min.toFixed(1)}–${figures.slow.heldSeconds.max.toFixed(1)} s`);
    console.log(`left stored: ${objects.length} input objects, ${messages} launch messages; normal uploads accepted (with the warm-up): ${normalAccepted}`);
    figures.goalMet =
      statuses['408'] === SLOW &&
      normalAccepted === ROUNDS * 2 + 1 &&
      objects.length === normalAccepted &&
      messages === normalAccepted &&
      w.median - a.median <= 1000;
    console.log(`goal (all slow 408, all normal 202, nothing else stored, median delay ≤ 1 s): ${figures.goalMet ? 'met' : 'NOT met'}`);
    writeJsonOutput(values.json, figures);
    return figures.goalMet ? EXIT.done : EXIT.goalFailed;
  } finally {
    await web.stop();
    await stack.stop();
  }
});
