import { CfnParameter, type Stack } from 'aws-cdk-lib';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
/** The values CloudWatch Logs accepts as a retention. */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/**
 * What differs between deployments of the same template: CloudFormation parameters,
 * each set from an ICS_* variable by `nx deploy infra` (infra/src/deploy.ts). An update
 * that does not set one keeps its previous value.
 */
export function defineParameters(stack: Stack) {
  const p = (id: string, props: ConstructorParameters<typeof CfnParameter>[2]) => new CfnParameter(stack, id, props);
  return {
    baseAmiId: p('BaseAmiId', {
      type: 'AWS::EC2::Image::Id',
      description:
        'Amazon Linux 2023 (x86_64) AMI id, resolved once and pinned: the control host, and workers while WorkerAmiId is empty. ' +
        'A new id replaces the control host (docs/operations.md, "Upgrade the AMI").',
    }),
    workerAmiId: p('WorkerAmiId', {
      type: 'String',
      default: '',
      allowedPattern: `^(ami-[0-9a-f]{8,17})?$`,
      description: 'The baked worker AMI (docs/operations.md). Empty: BaseAmiId, the worker installs itself at boot.',
    }),
    workerInstanceType: p('WorkerInstanceType', {
      type: 'String',
      default: 't3.medium',
      allowedPattern: '^[a-z][a-z0-9-]*\\.[a-z0-9]+$',
      description: 'Instance type of a worker (x86_64). The launch controller may launch only this type.',
    }),
    controlHostInstanceType: p('ControlHostInstanceType', {
      type: 'String',
      default: 't3.small',
      description: 'Instance type of the control host (web tier and both controllers).',
    }),
    maxWorkers: p('MaxWorkers', {
      type: 'Number',
      default: 20,
      minValue: 1,
      maxValue: 1000,
      description: 'MAX_WORKERS: most workers alive at once (SSM; applies when the launch controller restarts).',
    }),
    idleSeconds: p('IdleSeconds', {
      type: 'Number',
      default: 60,
      minValue: 1,
      maxValue: 86400,
      description: 'IDLE_SECONDS: a worker with no work for this long ends its instance.',
    }),
    imageDeadlineSeconds: p('ImageDeadlineSeconds', {
      type: 'Number',
      default: 120,
      minValue: 5,
      // The monitor message is sent with this delay; SQS allows at most 900 s.
      maxValue: 900,
      description: 'IMAGE_DEADLINE_SECONDS: time a worker has for one image before the monitor checks.',
    }),
    modelUrl: p('ModelUrl', {
      type: 'String',
      default: '',
      allowedPattern: '^(https://[^\\s\']+)?$',
      constraintDescription: 'empty, or an https: URL without spaces or quotes',
      description: 'MODEL_URL (https:) of a TF.js model.json. Empty: the model the worker artifact ships, or the one in the artifact bucket.',
    }),
    modelSha256: p('ModelSha256', {
      type: 'String',
      default: '',
      allowedPattern: '^([0-9a-f]{64})?$',
      constraintDescription: '64 lower-case hex digits',
      description: 'MODEL_SHA256: SHA-256 of the model.json at ModelUrl; required with ModelUrl.',
    }),
    webAllowedCidr: p('WebAllowedCidr', {
      type: 'String',
      default: '0.0.0.0/0',
      allowedPattern: '^\\d{1,3}(\\.\\d{1,3}){3}/\\d{1,2}$',
      description: 'Who may reach the load balancer (HTTPS 443, and 80 which redirects to it).',
    }),
    domainName: p('DomainName', {
      type: 'String',
      allowedPattern: '^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$',
      description: 'The web tier\'s domain name (the certificate\'s); point it at LoadBalancerDnsName (CNAME or alias).',
    }),
    certificateArn: p('CertificateArn', {
      type: 'String',
      allowedPattern: '^arn:aws[a-z-]*:acm:[a-z0-9-]+:\\d{12}:certificate/[A-Za-z0-9-]+$',
      description: 'ACM certificate for DomainName, in the stack\'s region.',
    }),
    alertEmail: p('AlertEmail', {
      type: 'String',
      allowedPattern: '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$',
      description: 'Who gets the alarms (dead letters, stuck launch queue) and the budget alerts.',
    }),
    monthlyBudgetUsd: p('MonthlyBudgetUsd', {
      type: 'Number',
      default: 50,
      minValue: 1,
      description: 'AWS Budgets: mail AlertEmail when the month\'s actual cost passes 80 % of this, or the forecast passes 100 %.',
    }),
    launchQueueMaxAgeSeconds: p('LaunchQueueMaxAgeSeconds', {
      type: 'Number',
      default: 600,
      minValue: 60,
      description: 'Alarm when the oldest launch message waits longer than this (no worker is taking images).',
    }),
    logRetentionDays: p('LogRetentionDays', {
      type: 'Number',
      default: 30,
      allowedValues: LOG_RETENTION_DAYS.map(String),
      description: 'Days CloudWatch Logs keeps the apps\' logs.',
    }),
    logLevel: p('LogLevel', {
      type: 'String',
      default: 'info',
      allowedValues: LOG_LEVELS,
      description: 'LOG_LEVEL of every app.',
    }),
  };
}

export type Parameters = ReturnType<typeof defineParameters>;
