import { spawnSync } from 'node:child_process';
import { CDK_CLI, cdkDeployArgs, DEFAULT_OUTPUTS_FILE, parameterVariable } from './deploy';
import { DEFAULT_OUTDIR } from './paths';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

describe('deploy command', () => {
  it('names each parameter variable after its parameter', () => {
    expect(parameterVariable('WorkerAmiId')).toBe('ICS_WORKER_AMI_ID');
    expect(parameterVariable('MaxWorkers')).toBe('ICS_MAX_WORKERS');
    expect(parameterVariable('WebAllowedCidr')).toBe('ICS_WEB_ALLOWED_CIDR');
  });

  it('deploys the synthesised assembly with the pinned CLI, stopping for a yes on broadened IAM', () => {
    expect(cdkDeployArgs({})).toEqual([
      CDK_CLI, 'deploy', '--all',
      '--app', DEFAULT_OUTDIR,
      '--outputs-file', DEFAULT_OUTPUTS_FILE,
      '--require-approval', 'broadening',
    ]);
    expect(DEFAULT_OUTPUTS_FILE).toMatch(/dist\/infra\/outputs\.json$/);
    const root = JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8'));
    expect(root.devDependencies['aws-cdk']).toMatch(/^\d+\.\d+\.\d+$/);
    expect(JSON.parse(readFileSync(join(__dirname, '../../node_modules/aws-cdk/package.json'), 'utf8')).version).toBe(root.devDependencies['aws-cdk']);
  });

  it('runs: the pinned CLI is there and answers offline', () => {
    const run = spawnSync(process.execPath, [CDK_CLI, '--version'], { encoding: 'utf8', timeout: 60_000 });
    expect(run.stdout).toMatch(/^2\.\d+\.\d+/);
  }, 90_000);

  it('never auto-approves: any approval level but broadening or any-change is refused', () => {
    expect(cdkDeployArgs({ ICS_REQUIRE_APPROVAL: 'any-change' })).toContain('any-change');
    expect(() => cdkDeployArgs({ ICS_REQUIRE_APPROVAL: 'never' })).toThrow(
      'ICS_REQUIRE_APPROVAL must be one of broadening, any-change (got "never"): IAM changes are never approved automatically',
    );
  });

  it('passes only the parameters that are set', () => {
    const args = cdkDeployArgs({ ICS_BASE_AMI_ID: 'ami-0123456789abcdef0', ICS_MAX_WORKERS: '5', ICS_DOMAIN_NAME: 'images.example.org', OTHER: 'x' });
    expect(args.slice(-8)).toEqual([
      '--require-approval', 'broadening',
      '--parameters', 'BaseAmiId=ami-0123456789abcdef0',
      '--parameters', 'MaxWorkers=5',
      '--parameters', 'DomainName=images.example.org',
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
    expect(infra.deploy).toMatchObject({ dependsOn: ['synth'], cache: false, options: { command: 'tsx --tsconfig tsconfig.base.json infra/src/deploy.ts', tty: true } });
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
