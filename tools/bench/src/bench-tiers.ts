/**
 * `npm run bench:tiers -- --json OUT`
 *
 * One web tier against three, side by side in one run: `WEB_TIERS=1 npm start`,
 * then `WEB_TIERS=3 npm start`, each from zero workers, and through the local
 * load balancer each time the classic load: every image its own `POST /`
 * (field `myfile`), all at once, each on a new connection (so the balancer
 * spreads them over the tiers), held until its label. Prints p50, p95 and the
 * number answered for each; the goal is threeTiers.p95 ≤ 1.3 × oneTier.p95.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { EXIT, existingPath, parseCommandLine, runMain, writeJsonOutput } from '@app/command-line';
import { listImages, percentile } from '@tools/loadgen';
import { spawnNpmStart, waitForNpmStart } from '@tools/local-run';
import { DATASET_DIR, WORKSPACE_ROOT } from '@tools/testing';

const GOAL_RATIO = 1.3;

const values = parseCommandLine({
  name: 'npm run bench:tiers --',
  summary:
    'The classic load (one request per image, all at once, each on a new connection) through the local load balancer of npm start with WEB_TIERS=1, then WEB_TIERS=3: p50, p95 and answered for each.',
  flags: {
    json: { type: 'string', value: 'OUT', description: 'write the figures as JSON' },
    images: { type: 'string', value: 'DIR', description: 'the classic images', default: join(DATASET_DIR, 'imagenet-100/images') },
    requests: { type: 'string', description: 'requests per run (the first N images)', default: '100', number: { integer: true, min: 1 } },
    'request-timeout': { type: 'string', description: 'seconds a request may be held', default: '300', number: { min: 1 } },
    'start-timeout': { type: 'string', description: 'seconds npm start may take to be ready (it builds the apps first)', default: '600', number: { min: 1 } },
    'keep-logs': { type: 'boolean', description: "keep each run's folder (app and worker logs) and print where it is" },
  },
  epilog: `Passes MODEL_DIR, MODEL_URL, INFERENCE_ENGINE, MAX_WORKERS, IDLE_SECONDS, LOCAL_FLEET and LOCAL_RUN_SKIP_BUILD on to npm start.
Exit 1 when a request was not answered or threeTiers.p95 > ${GOAL_RATIO} × oneTier.p95.`,
});

/** Settings of the caller's that shape both runs alike. */
const PASSED_ON = ['MODEL_DIR', 'MODEL_URL', 'INFERENCE_ENGINE', 'MAX_WORKERS', 'IDLE_SECONDS', 'LOCAL_FLEET', 'LOCAL_RUN_SKIP_BUILD'];

export interface TierRun {
  /** Seconds from sending to the label, over the answered requests. */
  p50: number;
  p95: number;
  answered: number;
  requests: number;
  /** The first few failures, as the client saw them. */
  failures: string[];
}

interface Outcome {
  ok: boolean;
  seconds: number;
  error?: string;
}

/** One classic request on a connection of its own (no keep-alive agent): `name:label` in the body is an answer. */
async function classic(url: string, file: string, timeoutMs: number): Promise<Outcome> {
  const form = new FormData();
  form.append('myfile', new Blob([readFileSync(file)]), basename(file));
  // The multipart body and its boundary, encoded by the platform.
  const encoded = new Request(url, { method: 'POST', body: form });
  const body = Buffer.from(await encoded.arrayBuffer());
  const t0 = performance.now();
  return new Promise((resolve) => {
    const done = (ok: boolean, error?: string) => resolve({ ok, seconds: (performance.now() - t0) / 1000, error });
    const req = request(`${url}/`, { method: 'POST', agent: false, headers: { 'content-type': encoded.headers.get('content-type') ?? '', 'content-length': body.length }, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => (res.statusCode === 200 && text.includes(':') ? done(true) : done(false, `HTTP ${res.statusCode}: ${text.slice(0, 200)}`)));
      res.on('error', (err) => done(false, err.message));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.on('error', (err) => done(false, err.message));
    req.end(body);
  });
}

async function runTiers(tiers: number, files: string[], o: { startTimeoutMs: number; requestTimeoutMs: number; keepLogs: boolean }): Promise<TierRun> {
  const runDir = mkdtempSync(join(tmpdir(), `bench-tiers-${tiers}-`));
  const passed = Object.fromEntries(PASSED_ON.flatMap((k) => (process.env[k] ? [[k, process.env[k] as string]] : [])));
  const env = { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...passed, PORT: '0', LOCAL_AWS_PORT: '0', LOCAL_RUN_DIR: runDir, WEB_TIERS: String(tiers) };
  const run = spawnNpmStart(['npm', 'start'], { cwd: WORKSPACE_ROOT, env });
  try {
    const url = await waitForNpmStart(run, o.startTimeoutMs);
    console.error(`WEB_TIERS=${tiers}: npm start up, load balancer at ${url}; sending ${files.length} classic requests at once`);
    const outcomes = await Promise.all(files.map((f) => classic(url, f, o.requestTimeoutMs)));
    const answered = outcomes.filter((r) => r.ok).map((r) => r.seconds);
    const round = (s: number) => Math.round(s * 100) / 100;
    return {
      p50: round(percentile(answered, 50)),
      p95: round(percentile(answered, 95)),
      answered: answered.length,
      requests: files.length,
      failures: outcomes.flatMap((r) => r.error ?? []).slice(0, 5),
    };
  } finally {
    await run.stop(60_000);
    if (o.keepLogs) console.error(`WEB_TIERS=${tiers}: logs kept in ${runDir}/logs and ${runDir}/fleet`);
    else rmSync(runDir, { recursive: true, force: true });
  }
}

runMain('bench:tiers', async () => {
  const files = listImages(existingPath('images', values.images), Number(values.requests));
  const o = { startTimeoutMs: Number(values['start-timeout']) * 1000, requestTimeoutMs: Number(values['request-timeout']) * 1000, keepLogs: values['keep-logs'] };
  const oneTier = await runTiers(1, files, o);
  const threeTiers = await runTiers(3, files, o);
  const ratio = oneTier.p95 > 0 ? Math.round((threeTiers.p95 / oneTier.p95) * 100) / 100 : null;
  const figures = { unit: 'seconds', requests: files.length, oneTier, threeTiers, p95Ratio: ratio, goalRatio: GOAL_RATIO };
  console.log(JSON.stringify(figures, null, 2));
  writeJsonOutput(values.json, figures);
  const allAnswered = oneTier.answered === files.length && threeTiers.answered === files.length;
  return allAnswered && ratio !== null && ratio <= GOAL_RATIO ? EXIT.done : EXIT.goalFailed;
});
