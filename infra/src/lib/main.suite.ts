import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PARAMETERS } from '../deploy';
import { synthesise } from '../main';
import { synthStack } from './synth-for-tests';

/** `npm run synth` (infra/src/main.ts): the cloud assembly it writes, offline, and its refusals. */
describe('npm run synth', () => {
  const { directory } = synthStack();

  it('writes a cloud assembly from the stack name alone: no AWS account, region or credentials', () => {
    const manifest = JSON.parse(readFileSync(join(directory, 'manifest.json'), 'utf8')) as {
      artifacts: Record<string, { type: string; properties?: { templateFile?: string; stackName?: string } }>;
    };
    const stacks = Object.values(manifest.artifacts).filter((a) => a.type === 'aws:cloudformation:stack');
    expect(stacks.map((s) => s.properties?.stackName)).toEqual(['ics']);
    const template = JSON.parse(readFileSync(join(directory, stacks[0].properties?.templateFile ?? ''), 'utf8'));
    expect(Object.keys(template.Resources).length).toBeGreaterThan(20);
    expect(template.Parameters.WorkerAmiId).toBeDefined();
    // The deploy command passes a variable for each of the stack's own parameters, and for nothing else.
    const own = Object.keys(template.Parameters).filter((p) => !p.startsWith('SsmParameterValue') && p !== 'BootstrapVersion');
    expect([...PARAMETERS].sort()).toEqual(own.sort());
  });

  it('fails with a message for a bad setting, and writes nothing', () => {
    const out = mkdtempSync(join(tmpdir(), 'cdk-out-'));
    try {
      expect(() => synthesise(join(out, 'bad'), { ICS_INPUT_RETENTION_DAYS: 'soon' })).toThrow(
        'ICS_INPUT_RETENTION_DAYS must be a whole number of days >= 1 (got "soon")',
      );
      expect(existsSync(join(out, 'bad', 'manifest.json'))).toBe(false);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
