/**
 * `npx tsx --tsconfig tsconfig.base.json tools/bench/src/classic-side-by-side.ts [--engine onnx,tfjs] [--images DIR] [--json OUT]`
 *
 * The classic load through the whole local system, once per engine, side by side on
 * this machine: `npm start` with the default model (INFERENCE_ENGINE set, nothing
 * else), from zero workers; the classic set of images sent as the classic load
 * generator does (one `POST /` per image, all at once, the label in the body:
 * tools/loadgen); the wall time from the first request to the last answer; then
 * Ctrl-C, and the next engine. Prints each engine's figures and each one's wall
 * time as a fraction of the last engine's (the goal: onnx at most 0.5 of tfjs).
 * `--rounds N` runs the engines in turn N times (this machine is shared and one
 * run's wall time moves by a second or more): each engine's figures are then its
 * median run's, and `rounds` lists every run's wall time.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT, existingPath, parseCommandLine, runMain, UsageError, writeJsonOutput } from '@app/command-line';
import { listImages, runLoad } from '@tools/loadgen';
import { spawnNpmStart, waitForNpmStart } from '@tools/local-run';
import { DATASET_DIR, WORKSPACE_ROOT } from '@tools/testing';

const ENGINES = ['onnx', 'tfjs'] as const;

const values = parseCommandLine({
  name: 'npx tsx --tsconfig tsconfig.base.json tools/bench/src/classic-side-by-side.ts',
  summary:
    'The classic load (one request per image, all at once) through npm start with the default model, from zero workers, once per engine: wall time to the last answer, side by side.',
  flags: {
    engine: { type: 'string', value: 'E[,E...]', description: 'INFERENCE_ENGINE values, each run in turn (onnx, tfjs)', default: 'onnx,tfjs' },
    images: { type: 'string', value: 'DIR', description: 'the classic images', default: join(DATASET_DIR, 'imagenet-100/images') },
    json: { type: 'string', value: 'OUT', description: 'write the figures as JSON' },
    rounds: { type: 'string', description: 'run the engines in turn this many times and report the median run of each', default: '1', number: { integer: true, min: 1 } },
    'start-timeout': { type: 'string', description: 'seconds npm start may take to be ready (it builds the apps first)', default: '600', number: { min: 1 } },
  },
  epilog: "The ratio is each engine's wall time over tfjs's (else the last engine's). Exit 1 when a request failed.",
});

interface EngineRun {
  engine: string;
  images: number;
  failed: number;
  /** First request sent to the last answer received, seconds. */
  wallSeconds: number;
  /** First request sent to the first answer received, seconds (mostly the first worker's cold start). */
  firstAnswerSeconds: number;
  /** Each worker's start to its first poll, ms (process start, model load and warm-up), from its log. */
  workerColdStartMs: number[];
  p50Ms: number;
  p95Ms: number;
  peakWorkers: number | null;
  /** npm start's command to its "running" message, seconds (build and model check included). */
  startSeconds: number;
}

/** The coldStartMs of each worker's "polling the launch queue" line, in the run's worker logs. */
function workerColdStarts(fleetDir: string): number[] {
  if (!existsSync(fleetDir)) return [];
  return readdirSync(fleetDir)
    .filter((f) => f.endsWith('.log'))
    .flatMap((f) => readFileSync(join(fleetDir, f), 'utf8').split('\n'))
    .filter((l) => l.includes('"polling the launch queue"'))
    .map((l) => (JSON.parse(l) as { coldStartMs: number }).coldStartMs);
}

async function runEngine(engine: string, imagesDir: string, count: number, startTimeoutMs: number): Promise<EngineRun> {
  const runDir = mkdtempSync(join(tmpdir(), `bench-classic-${engine}-`));
  const env: Record<string, string> = { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', PORT: '0', LOCAL_AWS_PORT: '0', LOCAL_RUN_DIR: runDir, INFERENCE_ENGINE: engine, ...(process.env['LOCAL_RUN_SKIP_BUILD'] ? { LOCAL_RUN_SKIP_BUILD: process.env['LOCAL_RUN_SKIP_BUILD'] } : {}) };
  const t0 = performance.now();
  const run = spawnNpmStart(['npm', 'start'], { cwd: WORKSPACE_ROOT, env });
  try {
    const url = await waitForNpmStart(run, startTimeoutMs);
    const startSeconds = (performance.now() - t0) / 1000;
    console.error(`${engine}: npm start ready at ${url} after ${startSeconds.toFixed(1)} s; sending ${count} classic requests`);
    const { report, results } = await runLoad({ url, imagesDir, concurrency: count, mode: 'classic', scaleInTimeoutMs: 0, progress: false, requestTimeoutMs: 600_000 });
    return {
      engine,
      images: report.requests,
      failed: report.failed,
      wallSeconds: report.wallSeconds,
      firstAnswerSeconds: Math.round(Math.min(...results.map((r) => r.doneAtMs)) / 100) / 10,
      workerColdStartMs: workerColdStarts(join(runDir, 'fleet')),
      p50Ms: report.latency.p50,
      p95Ms: report.latency.p95,
      peakWorkers: report.peakWorkers,
      startSeconds: Math.round(startSeconds * 10) / 10,
    };
  } finally {
    await run.stop(60_000);
    rmSync(runDir, { recursive: true, force: true });
  }
}

/** The run with the median wall time (the lower middle one of an even count); every run's failures counted. */
function medianRun(runs: EngineRun[]): EngineRun {
  const sorted = [...runs].sort((a, b) => a.wallSeconds - b.wallSeconds);
  return { ...sorted[Math.floor((sorted.length - 1) / 2)], failed: runs.reduce((n, r) => n + r.failed, 0) };
}

runMain('bench:classic', async () => {
  const engines = values.engine.split(',').map((e) => e.trim());
  const unknown = engines.filter((e) => !(ENGINES as readonly string[]).includes(e));
  if (unknown.length > 0) throw new UsageError(`--engine takes onnx and/or tfjs, comma-separated (got ${values.engine})`);
  const imagesDir = existingPath('images', values.images);
  const count = listImages(imagesDir).length;
  const all: EngineRun[][] = engines.map(() => []);
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const [i, engine] of engines.entries()) all[i].push(await runEngine(engine, imagesDir, count, Number(values['start-timeout']) * 1000));
  }
  const runs = all.map(medianRun);
  const base = runs.find((r) => r.engine === 'tfjs') ?? (runs.at(-1) as EngineRun);
  const figures = {
    images: count,
    engines: Object.fromEntries(runs.map((r) => [r.engine, { ...r, ratio: Math.round((r.wallSeconds / base.wallSeconds) * 100) / 100 }])),
    ratioOf: base.engine,
    rounds: Object.fromEntries(all.map((r) => [r[0].engine, r.map((x) => x.wallSeconds)])),
  };
  console.log(JSON.stringify(figures));
  writeJsonOutput(values.json, figures);
  for (const r of runs) {
    console.log(
      `${r.engine}: ${r.images} classic requests, wall ${r.wallSeconds} s to the last answer (${(r.wallSeconds / base.wallSeconds).toFixed(2)}x ${base.engine}), ` +
        `${all[0].length > 1 ? `median of ${all[0].length} runs (${figures.rounds[r.engine].join(', ')} s), ` : ''}first answer ${r.firstAnswerSeconds} s, workers' cold starts ${r.workerColdStartMs.join(', ')} ms, p50 ${r.p50Ms} ms, p95 ${r.p95Ms} ms, peak workers ${r.peakWorkers}, ${r.failed} failed`,
    );
  }
  return runs.some((r) => r.failed > 0) ? EXIT.goalFailed : EXIT.done;
});
