import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { labelOf, startJobsApiDouble, type JobsApiDouble } from '../test/jobs-api-double';
import { csvRows, imageFolder, runIcs } from '../test/run-ics';

jest.setTimeout(30_000);

/**
 * What the real web tier cannot be made to do on demand: a connection cut
 * after the server stored a chunk, a busy answer, a stream that ends early,
 * an image that cannot be classified. The resume path against the real tier
 * is in web-tier.spec.ts.
 */
describe('ics classify against the jobs API (loopback double)', () => {
  let api: JobsApiDouble | undefined;
  let folder: ReturnType<typeof imageFolder> | undefined;

  afterEach(async () => {
    await api?.close();
    api = undefined;
    if (folder) rmSync(folder.dir, { recursive: true, force: true });
  });

  function images(n: number) {
    folder = imageFolder(n);
    return folder;
  }

  it('uploads a folder in chunks, follows the batch and writes one CSV row per file with its label; exit 0, no state left', async () => {
    api = await startJobsApiDouble();
    const f = images(7);
    const out = join(f.dir, 'r.csv');
    const run = await runIcs(['classify', f.dir, '--url', api.url, '--out', out, '--batch-size', '3', '--concurrency', '2']);
    expect(run.stderr).toContain('7 of 7 images labelled');
    expect(run.code).toBe(0);
    const rows = csvRows(readFileSync(out, 'utf8'));
    expect(rows.map((r) => r['fileName']).sort()).toEqual([...f.names].sort());
    for (const r of rows) expect(r['label']).toBe(labelOf(f.bytes(r['fileName'])));
    expect(api.stored.sort()).toEqual([...f.names].sort());
    expect([run.progress.uploadedCount, run.progress.answeredCount]).toEqual([7, 7]);
    expect(existsSync(`${out}.ics-state.json`)).toBe(false);
  });

  it('retries a busy server (503 with Retry-After) and a cut connection with the same idempotency key', async () => {
    api = await startJobsApiDouble({ busyUploads: 2, afterStore: (n) => (n === 1 ? 'drop' : undefined) });
    const f = images(4);
    const run = await runIcs(['classify', f.dir, '--url', api.url, '--out', join(f.dir, 'r.csv'), '--batch-size', '2']);
    expect(run.code).toBe(0);
    expect(api.stored).toHaveLength(4);
    expect(api.replays).toBe(1);
    expect(run.progress.lines.filter((l) => l.includes('retrying'))).toHaveLength(3);
  });

  it('reconnects to a stream that ends early and still sees every result once', async () => {
    api = await startJobsApiDouble({ eventsPerStream: 1 });
    const f = images(5);
    const run = await runIcs(['classify', f.dir, '--url', api.url, '--out', join(f.dir, 'r.csv')]);
    expect(run.code).toBe(0);
    expect(run.progress.answeredCount).toBe(5);
  });

  it('exits 1 with a summary naming each image without a label', async () => {
    api = await startJobsApiDouble({ fails: (name) => name.endsWith('_1.JPEG') });
    const f = images(3);
    const broken = f.names.find((n) => n.endsWith('_1.JPEG'));
    const run = await runIcs(['classify', f.dir, '--url', api.url, '--out', join(f.dir, 'r.csv')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('2 of 3 images labelled');
    expect(run.stderr).toContain(`${broken}: cannot be classified: cannot decode`);
  });

  it('writes CSV to stdout without --out and takes the key from ICS_API_KEY', async () => {
    const keys: (string | null)[] = [];
    api = await startJobsApiDouble();
    const f = images(2);
    const spy: typeof fetch = (input, init) => {
      keys.push(new Headers(init?.headers).get('x-api-key'));
      return fetch(input, init);
    };
    const run = await runIcs(['classify', ...f.names.map((n) => join(f.dir, n)), '--url', api.url], { env: { ICS_API_KEY: 'k1' }, fetch: spy });
    expect(run.code).toBe(0);
    expect(csvRows(run.stdout).map((r) => r['status'])).toEqual(['done', 'done']);
    expect(new Set(keys)).toEqual(new Set(['k1']));
  });
});

describe('ics usage', () => {
  it('--help lists the commands and exits 0', async () => {
    const run = await runIcs(['--help']);
    expect(run.code).toBe(0);
    for (const c of ['classify', 'batches', 'results', 'delete']) expect(run.stdout).toContain(c);
    const sub = await runIcs(['classify', '--help']);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toContain('--batch-size <N>');
  });

  it.each([
    [['classify', 'x', '--url', 'http://h', '--bogus'], "unknown option '--bogus'"],
    [['classify', 'x', '--url', 'http://h', '--batch-size', 'ten'], '--batch-size must be an integer >= 1'],
    [['classify', 'x', '--url', 'http://h', '--concurrency', '0'], '--concurrency must be an integer >= 1'],
    [['classify', __dirname], '--url is required'],
    [['classify', __dirname, '--url', 'http://h', '--out', 'r.txt'], '--out must end in .csv or .json'],
    [['classify', '/nonexistent-folder', '--url', 'http://h'], 'no such file or folder'],
    [['results', 'b', '--url', 'http://h', '--format', 'xml'], "argument 'xml' is invalid"],
    [['frobnicate'], "unknown command 'frobnicate'"],
  ])('%j is a usage error: one line, exit 2', async (argv, message) => {
    const run = await runIcs(argv);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('an unreachable server is a failed run (exit 1), not a crash', async () => {
    const run = await runIcs(['batches', '--url', 'http://127.0.0.1:9']);
    expect(run.stderr).toContain('cannot reach the server');
    expect(run.code).toBe(1);
  });
});
