import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { EntryPointRun } from './load-entry-points';

const ROOT = join(__dirname, '../../../..');
// A project without sources (tools/workspace holds workspace-wide targets only) has no program.
const files = (dir: string, match: RegExp) =>
  (existsSync(join(ROOT, dir)) ? readdirSync(join(ROOT, dir), { withFileTypes: true }) : [])
    .filter((e) => e.isFile() && match.test(e.name) && !e.name.endsWith('.spec.ts'))
    .map((e) => `${dir}/${e.name}`);

/** Every program a user runs: the npm scripts' entry points, each app, each tool's *main*.ts and the benchmarks. */
function entryPoints(): string[] {
  const scripts = Object.values((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts);
  const fromScripts = scripts.flatMap((s) => /tsx --tsconfig tsconfig\.base\.json (\S+\.ts)/.exec(s)?.[1] ?? []).filter((f) => !f.startsWith('infra/'));
  const apps = readdirSync(join(ROOT, 'apps')).flatMap((app) => files(`apps/${app}/src`, /^main\.ts$/));
  const tools = readdirSync(join(ROOT, 'tools')).flatMap((tool) => files(`tools/${tool}/src`, /main.*\.ts$/));
  const bench = files('tools/bench/src', /\.ts$/).filter((f) => !f.endsWith('/index.ts'));
  return [...new Set([...fromScripts, ...apps, ...tools, ...bench])].sort();
}

describe('every tool and app on the command line', () => {
  const entries = entryPoints();
  let runs: EntryPointRun[] = [];

  beforeAll(() => {
    // One process loads them all (parsing only: nothing past it runs), instead of two per program.
    const out = execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), '--tsconfig', 'tsconfig.base.json', relative(ROOT, join(__dirname, 'load-entry-points.ts')), ...entries],
      { cwd: ROOT, encoding: 'utf8', timeout: 240_000, maxBuffer: 64 * 1024 * 1024, env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '' } },
    );
    runs = out.trim().split('\n').map((line) => JSON.parse(line) as EntryPointRun);
  }, 300_000);

  it('finds the programs (npm scripts, apps, tools, benchmarks)', () => {
    expect(entries).toEqual(expect.arrayContaining(['tools/local-run/src/main.ts', 'tools/loadgen/src/main.ts', 'apps/web-tier/src/main.ts', 'tools/bench/src/queue-roundtrip.ts']));
  });

  it.each(entryPoints())('%s answers --help with its flags on stdout and exits 0', (file) => {
    const run = runs.find((r) => r.file === file && r.args[0] === '--help');
    expect({ file, code: run?.code, error: run?.error }).toEqual({ file, code: 0, error: undefined });
    expect(run?.stdout).toMatch(/^Usage: /);
    expect(run?.stdout).toContain('-h, --help');
    // The shared exit codes (a client may add its own, e.g. 130 interrupted).
    expect(run?.stdout).toMatch(/Exit codes: 0 done, 1 the run's goal failed.*, 2 usage/s);
  });

  it.each(entryPoints())('%s refuses an unknown flag in one line on stderr and exits 2', (file) => {
    const run = runs.find((r) => r.file === file && r.args[0] === '--no-such-flag');
    expect({ file, code: run?.code, stdout: run?.stdout, error: run?.error }).toEqual({ file, code: 2, stdout: '', error: undefined });
    expect(run?.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(run?.stderr).toContain("unknown option '--no-such-flag'");
  });
});
