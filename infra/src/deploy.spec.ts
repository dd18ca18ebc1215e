import { cdkDeployArgs, DEFAULT_OUTPUTS_FILE, parameterVariable, PARAMETERS } from './deploy';
import { DEFAULT_OUTDIR } from './main';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { IcsStack } from './lib/stack';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

describe('deploy command', () => {
  it('names each parameter variable after its parameter', () => {
    expect(parameterVariable('WorkerAmiId')).toBe('ICS_WORKER_AMI_ID');
    expect(parameterVariable('MaxWorkers')).toBe('ICS_MAX_WORKERS');
    expect(parameterVariable('WebAllowedCidr')).toBe('ICS_WEB_ALLOWED_CIDR');
  });

  it('covers exactly the stack\'s own parameters', () => {
    const t = Template.fromStack(new IcsStack(new App(), 'Ics', { stackName: 'ics' })).toJSON();
    const own = Object.keys(t.Parameters).filter((p) => !p.startsWith('SsmParameterValue') && p !== 'BootstrapVersion');
    expect([...PARAMETERS].sort()).toEqual(own.sort());
  });

  it('deploys the synthesised assembly and writes the outputs for the packaging deploy', () => {
    expect(cdkDeployArgs({})).toEqual([
      '-y', 'aws-cdk@2', 'deploy', '--all',
      '--app', DEFAULT_OUTDIR,
      '--outputs-file', DEFAULT_OUTPUTS_FILE,
      '--require-approval', 'never',
    ]);
    expect(DEFAULT_OUTPUTS_FILE).toMatch(/dist\/infra\/outputs\.json$/);
  });

  it('passes only the parameters that are set', () => {
    const args = cdkDeployArgs({ ICS_WORKER_AMI_ID: 'ami-0123456789abcdef0', ICS_MAX_WORKERS: '5', ICS_REQUIRE_APPROVAL: 'broadening', OTHER: 'x' });
    expect(args.slice(-6)).toEqual([
      '--require-approval', 'broadening',
      '--parameters', 'WorkerAmiId=ami-0123456789abcdef0',
      '--parameters', 'MaxWorkers=5',
    ]);
    expect(args.join(' ')).not.toContain('OTHER');
  });
});

describe('nx run-many -t deploy', () => {
  const project = (p: string) => JSON.parse(readFileSync(join(__dirname, '../..', p, 'project.json'), 'utf8'));

  it('synthesises, deploys the stack, then uploads freshly built artifacts', () => {
    const infra = project('infra').targets;
    const packaging = project('tools/packaging').targets;
    expect(infra.synth.options.command).toBe('tsx --tsconfig tsconfig.base.json infra/src/main.ts');
    expect(infra.deploy).toMatchObject({ dependsOn: ['synth'], cache: false, options: { command: 'tsx --tsconfig tsconfig.base.json infra/src/deploy.ts' } });
    expect(packaging.deploy).toMatchObject({
      dependsOn: ['build', { projects: ['infra'], target: 'deploy' }],
      cache: false,
      options: { command: 'tsx --tsconfig tsconfig.base.json tools/packaging/src/upload.ts' },
    });
    expect(packaging.build.dependsOn).toEqual([
      { projects: ['web-tier', 'launch-controller', 'monitor-controller', 'classifier-worker'], target: 'build' },
    ]);
  });
});
