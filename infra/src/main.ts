import { App, CliCredentialsStackSynthesizer } from 'aws-cdk-lib/core';
import { IcsStack } from './lib/stack';
import { DEFAULT_OUTDIR } from './paths';

export { DEFAULT_OUTDIR };

/**
 * Synthesises the stack into dist/infra/cdk.out (or ICS_CDK_OUT) without the CDK
 * CLI and without AWS credentials: `npm run synth`. Deploy the result with
 * `npx nx deploy infra` (infra/src/deploy.ts runs the pinned `cdk deploy --app <cdk.out>`).
 *
 * Synth-time settings (environment): ICS_STACK_NAME (default `ics`, also STACK_NAME
 * and the ics:stack tag), ICS_INPUT_RETENTION_DAYS (7), ICS_OUTPUT_RETENTION_DAYS (30).
 * Deploy-time settings are CloudFormation parameters (see docs/operations.md).
 */

type Settings = Record<string, string | undefined>;

function positiveInt(settings: Settings, name: string, fallback: number): number {
  const raw = settings[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a whole number of days >= 1 (got ${JSON.stringify(raw)})`);
  return n;
}

/**
 * The stack as `npm run synth` writes it, from the synth-time settings given (the environment by default).
 * `cdkValidation`: CDK's own CloudFormation checks of the template (on in `npm run synth`); the template
 * tests, which assert the template itself, leave them out (starting their engine costs about 7 CPU-s).
 */
export function synthesise(outdir: string, settings: Settings = process.env, cdkValidation = true): { directory: string; stack: IcsStack } {
  const app = new App({ outdir, builtinCloudFormationValidation: cdkValidation });
  const stack = new IcsStack(app, 'Ics', {
    stackName: settings['ICS_STACK_NAME'] ?? 'ics',
    description: 'Elastic image classification: S3, SQS, worker launch template, control host behind an HTTPS load balancer',
    // Deploys with the caller's credentials (no bootstrap roles); the template itself, too big to
    // pass inline, goes through the bootstrap bucket: `npx cdk bootstrap` once per account and region.
    synthesizer: new CliCredentialsStackSynthesizer(),
    inputRetentionDays: positiveInt(settings, 'ICS_INPUT_RETENTION_DAYS', 7),
    outputRetentionDays: positiveInt(settings, 'ICS_OUTPUT_RETENTION_DAYS', 30),
  });
  return { directory: app.synth().directory, stack };
}

export function synth(outdir = process.env['ICS_CDK_OUT'] ?? DEFAULT_OUTDIR): string {
  return synthesise(outdir).directory;
}

if (require.main === module) {
  const dir = synth();
  console.log(`synthesised ${dir}`);
}
