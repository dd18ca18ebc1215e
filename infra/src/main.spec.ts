import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { PARAMETERS } from './deploy';

const ROOT = resolve(__dirname, '../..');

describe('npm run synth (infra/src/main.ts under tsx)', () => {
  let out: string;
  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'cdk-out-'));
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('writes a cloud assembly offline, with no AWS credentials', () => {
    const run = spawnSync(process.execPath, [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), '--tsconfig', 'tsconfig.base.json', 'infra/src/main.ts'], {
      cwd: ROOT,
      // No AWS_* at all: synthesis must not look anything up.
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ICS_CDK_OUT: out, ICS_STACK_NAME: 'ics-test' },
      encoding: 'utf8',
      // Synthesis takes seconds here; a loaded CI machine has been seen to need over 90 s.
      timeout: 200_000,
    });
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: expect.any(String) });
    expect(run.stdout).toContain(`synthesised ${out}`);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as {
      artifacts: Record<string, { type: string; properties?: { templateFile?: string; stackName?: string } }>;
    };
    const stacks = Object.values(manifest.artifacts).filter((a) => a.type === 'aws:cloudformation:stack');
    expect(stacks.map((s) => s.properties?.stackName)).toEqual(['ics-test']);
    const template = JSON.parse(readFileSync(join(out, stacks[0].properties?.templateFile ?? ''), 'utf8'));
    expect(Object.keys(template.Resources).length).toBeGreaterThan(20);
    expect(template.Parameters.WorkerAmiId).toBeDefined();
    // The deploy command passes a variable for each of the stack's own parameters, and for nothing else.
    const own = Object.keys(template.Parameters).filter((p) => !p.startsWith('SsmParameterValue') && p !== 'BootstrapVersion');
    expect([...PARAMETERS].sort()).toEqual(own.sort());
  }, 240_000);

  it('fails with a message for a bad setting', () => {
    const run = spawnSync(process.execPath, [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), '--tsconfig', 'tsconfig.base.json', 'infra/src/main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', ICS_CDK_OUT: join(out, 'bad'), ICS_INPUT_RETENTION_DAYS: 'soon' },
      encoding: 'utf8',
      timeout: 200_000,
    });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('ICS_INPUT_RETENTION_DAYS must be a whole number of days >= 1 (got "soon")');
    expect(existsSync(join(out, 'bad', 'manifest.json'))).toBe(false);
  }, 240_000);
});
