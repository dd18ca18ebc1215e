import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { DEFAULT_OUTDIR } from './main';

/**
 * `npx nx deploy infra` (and `nx run-many -t deploy`): deploys the synthesised
 * cdk.out with the AWS CDK CLI (`npx aws-cdk@2`, fetched on demand: it is not a
 * dependency of the workspace) using the caller's AWS credentials, and writes the
 * stack outputs to dist/infra/outputs.json, which `nx deploy packaging` reads to
 * find the artifact bucket. Needs internet and credentials; never run by the tests.
 *
 * Each CloudFormation parameter comes from an ICS_* variable when it is set
 * (WorkerAmiId <- ICS_WORKER_AMI_ID, ...); unset ones keep their previous value
 * on an update, or the template default on the first deploy.
 * `--dry-run` prints the command instead of running it.
 */
export const DEFAULT_OUTPUTS_FILE = resolve(__dirname, '../../dist/infra/outputs.json');

export const PARAMETERS = [
  'WorkerAmiId',
  'WorkerInstanceType',
  'ControlHostInstanceType',
  'MaxWorkers',
  'IdleSeconds',
  'ImageDeadlineSeconds',
  'ModelUrl',
  'WebAllowedCidr',
  'LogLevel',
] as const;

/** WorkerAmiId -> ICS_WORKER_AMI_ID */
export function parameterVariable(parameter: string): string {
  return `ICS_${parameter.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

export function cdkDeployArgs(
  env: NodeJS.ProcessEnv,
  app = DEFAULT_OUTDIR,
  outputsFile = DEFAULT_OUTPUTS_FILE,
): string[] {
  const args = ['-y', 'aws-cdk@2', 'deploy', '--all', '--app', app, '--outputs-file', outputsFile];
  // IAM changes need a yes; nx runs the command without a terminal to ask on.
  args.push('--require-approval', env['ICS_REQUIRE_APPROVAL'] ?? 'never');
  for (const p of PARAMETERS) {
    const value = env[parameterVariable(p)];
    if (value !== undefined) args.push('--parameters', `${p}=${value}`);
  }
  return args;
}

if (require.main === module) {
  const args = cdkDeployArgs(process.env);
  if (process.argv.includes('--dry-run')) {
    console.log(['npx', ...args].join(' '));
  } else {
    const run = spawnSync('npx', args, { stdio: 'inherit' });
    process.exit(run.status ?? 1);
  }
}
