import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { DATASET_DIR, MODEL_DIR, WORKSPACE_ROOT } from '@tools/testing';
import { until } from './e2e-helpers';
import { processesWithEnv } from './worker-census';

function npmStart(env: Record<string, string>) {
  const child = spawn(process.execPath, [join(WORKSPACE_ROOT, 'node_modules/tsx/dist/cli.mjs'), '--tsconfig', 'tsconfig.base.json', 'tools/local-run/src/main.ts'], {
    cwd: WORKSPACE_ROOT,
    // The test target depends on the apps' builds; a nested build would race other suites reading dist/.
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', LOCAL_RUN_SKIP_BUILD: 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  return { child, exited, output: () => out };
}

describe('npm start', () => {
  it('without a model it stops with one message saying exactly what to set', async () => {
    const run = npmStart({ MODEL_DEFAULT_URL: 'http://127.0.0.1:1/model.json', LOCAL_RUN_DIR: mkdtempSync(join(tmpdir(), 'start-')) });
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain('no model: MODEL_DIR and MODEL_URL are unset and the default model cannot be downloaded');
    expect(run.output()).toContain('MODEL_DIR=../shared/models/mobilenet_v1_025_224 npm start');
  }, 120_000);

  it('runs the whole system, classifies an upload, and Ctrl-C leaves no process behind', async () => {
    const runDir = mkdtempSync(join(tmpdir(), 'start-'));
    const marker = `FLEET_STATE_DIR=${join(runDir, 'fleet')}`;
    const run = npmStart({ MODEL_DIR, PORT: '0', LOCAL_RUN_DIR: runDir, MAX_WORKERS: '2', IDLE_SECONDS: '60' });
    try {
      await until(() => run.output().includes('Press Ctrl-C to stop everything'), 120_000, `npm start to be up:\n${run.output()}`, 200);
      const webUrl = /Upload page\s+(http:\/\/\S+)\//.exec(run.output())?.[1];
      expect(webUrl).toBeDefined();
      expect(run.output()).toMatch(/Swagger UI\s+http:\/\/\S+\/docs/);

      const file = join(DATASET_DIR, 'imagenet-100/images/test_3.JPEG');
      const form = new FormData();
      form.append('myfile', new Blob([readFileSync(file)]), basename(file));
      const res = await fetch(`${webUrl}/`, { method: 'POST', body: form });
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(/^test_3:.+/);
      // Three control apps and at least one worker, all carrying this run's marker.
      expect(processesWithEnv(marker, 'WORKER_ID=').length).toBeGreaterThanOrEqual(1);
      expect(processesWithEnv(marker).length).toBeGreaterThanOrEqual(4);
    } finally {
      run.child.kill('SIGINT');
    }
    expect(await run.exited).toBe(0);
    expect(run.output()).toContain('Stopped.');
    expect(processesWithEnv(marker)).toEqual([]);
    rmSync(runDir, { recursive: true, force: true });
  }, 180_000);
});
