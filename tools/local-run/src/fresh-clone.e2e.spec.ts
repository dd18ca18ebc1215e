/**
 * `npm ci && npm start` as a new user runs it: a clean copy of the committed
 * repository with nothing beside it (no ../shared) and no model variables.
 * The whole system must build, start on the default model that npm brings,
 * give an image the default model's label, and stop on Ctrl-C leaving nothing running.
 *
 * node_modules is the workspace's own, linked in: `npm ci` from the same
 * lockfile gives the same tree, and a real one costs ~50 s and ~800 MB per run.
 * FRESH_CLONE_NPM_CI=true runs the real `npm ci` in the copy instead (and
 * prints its time): the figure "npm ci && npm start to the first result".
 *
 * The test itself runs the default model on ONNX Runtime to pick its image, hence the environment:
 * @jest-environment ../../libs/classifier/test/onnx-jest-environment.cjs
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODEL_DIR, scene, SCENE_COUNT, WORKSPACE_ROOT } from '@tools/testing/files';
import { until } from '@tools/testing/eventually';
import { processesWithEnv } from '@tools/testing/processes';
import { killAllNpmStarts, spawnNpmStart } from './e2e-helpers';

/** Each model's label for an image, in this process. */
async function labelsBy(modelDir: string | undefined, images: Buffer[]): Promise<string[]> {
  // Loaded when used, as the rest of local-run loads it.
  const { Classifier } = await import('@app/classifier');
  const classifier = await Classifier.create({ modelDir, thread: false });
  try {
    const out: string[] = [];
    for (const bytes of images) out.push((await classifier.classify(bytes)).label);
    return out;
  } finally {
    await classifier.close();
  }
}

/**
 * An image the default model (EfficientNet-B0) and the small test model label
 * differently, with the default model's label: the answer then shows which model ran.
 */
async function imageOnlyTheDefaultModelLabelsSo(): Promise<{ bytes: Buffer; label: string }> {
  const images = Array.from({ length: SCENE_COUNT }, (_, i) => scene(i).bytes);
  const [byDefault, bySmall] = [await labelsBy(undefined, images), await labelsBy(MODEL_DIR, images)];
  const i = byDefault.findIndex((label, j) => label !== bySmall[j]);
  if (i < 0) throw new Error(`both models label every scene alike (${byDefault.join(', ')}): render other fixtures`);
  return { bytes: images[i], label: byDefault[i] };
}

const REAL_NPM_CI = process.env['FRESH_CLONE_NPM_CI'] === 'true';

describe('npm start on a fresh clone with nothing beside it', () => {
  let base: string;
  let repo: string;

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'fresh-clone-'));
    repo = join(base, 'repo');
    mkdirSync(repo);
    // The committed tree only: no dist/, no .local-run/, no model cache, no uncommitted files.
    execFileSync('sh', ['-c', `git -C "${WORKSPACE_ROOT}" archive --format=tar HEAD | tar -x -C "${repo}"`]);
    if (!REAL_NPM_CI) symlinkSync(join(WORKSPACE_ROOT, 'node_modules'), join(repo, 'node_modules'), 'dir');
  });

  afterAll(async () => {
    await killAllNpmStarts();
    if (!repo) return;
    // The link first, so that removing the copy can never reach into the real node_modules.
    if (!REAL_NPM_CI && existsSync(join(repo, 'node_modules'))) unlinkSync(join(repo, 'node_modules'));
    rmSync(base, { recursive: true, force: true });
  }, 120_000);

  it('builds, starts on the default model, answers with its label, and Ctrl-C leaves no process behind', async () => {
    const photo = await imageOnlyTheDefaultModelLabelsSo();
    expect(existsSync(join(repo, '../shared'))).toBe(false);
    expect(existsSync(join(repo, 'dist'))).toBe(false);
    const marker = `ICS_FRESH_CLONE_TEST=${randomUUID()}`;
    let npmCiSeconds = 0;
    if (REAL_NPM_CI) {
      const t = Date.now();
      execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: repo, env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '' }, stdio: 'ignore' });
      npmCiSeconds = (Date.now() - t) / 1000;
    }
    // Only what a login shell has: no MODEL_*, no SHARED_DIR, nothing from this test run.
    const run = spawnNpmStart(['npm', 'start'], {
      cwd: repo,
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '',
        PORT: '0',
        // Not 4566: no process of another system on this machine may reach this one's queues.
        LOCAL_AWS_PORT: '0',
        // The Nx cache of this copy stays in it (and goes with it).
        NX_CACHE_DIRECTORY: join(repo, '.nx/cache'),
        [marker.split('=')[0]]: marker.split('=')[1],
      },
    });
    const started = Date.now();
    let stopping = false;
    try {
      await until('npm start to be up', () => run.output().includes('Press Ctrl-C to stop everything') || run.child.exitCode !== null, 480_000, 500);
      expect(run.output()).toContain('Model: the default model, EfficientNet-B0');
      const webUrl = /Upload page\s+(http:\/\/127\.0\.0\.1:\d+)\//.exec(run.output())?.[1];
      expect(webUrl).toBeDefined();
      const upSeconds = (Date.now() - started) / 1000;

      const form = new FormData();
      form.append('myfile', new Blob([new Uint8Array(photo.bytes)]), 'bird.jpg');
      const res = await fetch(`${webUrl}/`, { method: 'POST', body: form });
      const answer = { status: res.status, body: await res.text() };
      const firstResult = (Date.now() - started) / 1000;
      console.log(
        `fresh clone: npm start up in ${upSeconds.toFixed(0)} s (build included), first result after ${firstResult.toFixed(0)} s` +
          (REAL_NPM_CI ? `; npm ci ${npmCiSeconds.toFixed(0)} s, npm ci && npm start to the first result ${(npmCiSeconds + firstResult).toFixed(0)} s` : ''),
      );
      // The control apps and a worker, all from the copy, none told of a model.
      const pids = processesWithEnv(marker);
      expect(pids.length).toBeGreaterThanOrEqual(4);
      for (const pid of pids) expect(readFileSync(`/proc/${pid}/environ`, 'utf8')).not.toMatch(/(^|\0)MODEL_(DIR|URL)=/);
      // This system's own worker loaded EfficientNet-B0 from the copy's build and classified the photo.
      const fleetDir = join(repo, '.local-run/fleet');
      const workerLogs = readdirSync(fleetDir)
        .filter((f) => f.endsWith('.log'))
        .map((f) => readFileSync(join(fleetDir, f), 'utf8'));
      expect(workerLogs.some((log) => log.includes('"model":"efficientnet-b0"') && log.includes('"image classified"'))).toBe(true);
      expect(answer).toEqual({ status: 200, body: `bird:${photo.label}` });

      stopping = true;
      run.interrupt();
      // npm itself may die of the Ctrl-C at once, as in a terminal (its output pipe stays open while what it started still runs).
      await until('npm start to stop everything', () => run.output().includes('Stopped.'), 90_000, 200);
      await run.exited;
      expect(run.child.exitCode === 0 || run.child.signalCode === 'SIGINT').toBe(true);
      await until('every process of this run to be gone', () => processesWithEnv(marker).length === 0, 10_000, 200);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- npm start printed:\n${run.output().slice(-4000)}${appLogTails(repo)}`);
    } finally {
      if (!stopping) run.interrupt();
    }
  }, REAL_NPM_CI ? 900_000 : 600_000);
});

/** The last lines of each app's and worker's log in the copy: which one a failed start or stop waited on. */
function appLogTails(repo: string): string {
  const dirs = [join(repo, '.local-run/logs'), join(repo, '.local-run/fleet')];
  let out = '';
  for (const dir of dirs) {
    const logs = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.log')) : [];
    for (const log of logs) out += `\n--- ${log}, last lines:\n${readFileSync(join(dir, log), 'utf8').trimEnd().split('\n').slice(-8).join('\n')}`;
  }
  return out;
}
