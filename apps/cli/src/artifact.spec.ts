import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The packed CLI (built by `nx build cli`, which `nx test cli` runs first). */
const TARBALL = resolve(__dirname, '../../../dist/packages/ics-cli.tgz');

describe('the ics artifact', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ics-artifact-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is one self-contained file with the bin ics: --help answers, an unknown flag is exit 2', () => {
    execFileSync('tar', ['-xzf', TARBALL, '-C', dir]);
    const pkg = JSON.parse(readFileSync(join(dir, 'package/package.json'), 'utf8')) as { bin: Record<string, string>; dependencies?: object };
    expect(pkg.bin).toEqual({ ics: 'ics.js' });
    expect(pkg.dependencies).toBeUndefined();
    const bin = join(dir, 'package', pkg.bin['ics']);
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
    const help = spawnSync(process.execPath, [bin, 'classify', '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--concurrency <N>');
    const bad = spawnSync(process.execPath, [bin, 'classify', 'x', '--nope'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe("ics: unknown option '--nope' (see --help)\n");
  });
});
