import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { DEFAULT_OUTDIR } from './paths';

/**
 * `npx nx deploy infra` (and `nx run-many -t deploy`): deploys the synthesised
 * cdk.out with the workspace's pinned AWS CDK CLI (the `aws-cdk` devDependency, never
 * fetched at deploy time) using the caller's AWS credentials, and writes the stack
 * outputs to dist/infra/outputs.json, which `nx deploy packaging` reads to find the
 * artifact bucket. Needs credentials and a bootstrapped environment
 * (`npx cdk bootstrap`, once per account and region: the template goes through the
 * bootstrap bucket); never run by the tests.
 *
 * Each CloudFormation parameter comes from an ICS_* variable when it is set
 * (WorkerAmiId <- ICS_WORKER_AMI_ID, ...); unset ones keep their previous value
 * on an update, or the template default on the first deploy.
 * IAM changes that widen access always stop for a yes (`--require-approval
 * broadening`); ICS_REQUIRE_APPROVAL=any-change asks for every change. Nothing
 * auto-approves. `--dry-run` prints the command instead of running it.
 */
export const DEFAULT_OUTPUTS_FILE = resolve(__dirname, '../../dist/infra/outputs.json');
/** The pinned CLI's entry point (package.json devDependencies: aws-cdk). */
export const CDK_CLI = resolve(__dirname, '../../node_modules/aws-cdk/bin/cdk');
export const APPROVAL_LEVELS = ['broadening', 'any-change'] as const;

export const PARAMETERS = [
  'BaseAmiId',
  'WorkerAmiId',
  'WorkerInstanceType',
  'WorkerArchitecture',
  'WorkerArm64BaseAmiId',
  'WorkerCapacity',
  'ControlHostInstanceType',
  'ControlHostCount',
  'MaxWorkers',
  'IdleSeconds',
  'ImageDeadlineSeconds',
  'ModelUrl',
  'ModelSha256',
  'WebAllowedCidr',
  'DomainName',
  'CertificateArn',
  'AlertEmail',
  'MonthlyBudgetUsd',
  'LaunchQueueMaxAgeSeconds',
  'QueueMaxAgeSeconds',
  'LogRetentionDays',
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
  const approval = env['ICS_REQUIRE_APPROVAL'] ?? 'broadening';
  if (!(APPROVAL_LEVELS as readonly string[]).includes(approval)) {
    throw new Error(`ICS_REQUIRE_APPROVAL must be one of ${APPROVAL_LEVELS.join(', ')} (got ${JSON.stringify(approval)}): IAM changes are never approved automatically`);
  }
  const args = [CDK_CLI, 'deploy', '--all', '--app', app, '--outputs-file', outputsFile, '--require-approval', approval];
  for (const p of PARAMETERS) {
    const value = env[parameterVariable(p)];
    if (value !== undefined) args.push('--parameters', `${p}=${value}`);
  }
  return args;
}

if (require.main === module) {
  try {
    const args = cdkDeployArgs(process.env);
    if (process.argv.includes('--dry-run')) {
      console.log([process.execPath, ...args].join(' '));
    } else {
      // Inherit the terminal: the CLI asks there before it widens any permission.
      const run = spawnSync(process.execPath, args, { stdio: 'inherit' });
      process.exit(run.status ?? 1);
    }
  } catch (err) {
    console.error(`deploy: ${(err as Error).message}`);
    process.exit(1);
  }
}
