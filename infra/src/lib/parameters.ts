import { CfnParameter, type Stack } from 'aws-cdk-lib/core';

/** WORKER_CAPACITY of the launch controller (libs/config). */
export const WORKER_CAPACITIES = ['on-demand', 'spot', 'spot-first'];
export const WORKER_ARCHITECTURES = ['x86_64', 'arm64'];
/** The worker instance type when WorkerInstanceType is empty, per WorkerArchitecture. */
export const DEFAULT_WORKER_INSTANCE_TYPES = { x86_64: 't3.medium', arm64: 'c7g.medium' } as const;
/** Amazon Linux 2023's public SSM parameter for arm64 (x86_64 workers run the pinned BaseAmiId). */
export const AL2023_ARM64_AMI_PARAMETER = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64';
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
      default: '',
      allowedPattern: '^([a-z][a-z0-9-]*\\.[a-z0-9]+)?$',
      description:
        `Instance type of a worker, of WorkerArchitecture. Empty: ${DEFAULT_WORKER_INSTANCE_TYPES.x86_64} (x86_64) or ` +
        `${DEFAULT_WORKER_INSTANCE_TYPES.arm64} (arm64). The launch controller may launch only this type.`,
    }),
    workerArchitecture: p('WorkerArchitecture', {
      type: 'String',
      default: 'x86_64',
      allowedValues: WORKER_ARCHITECTURES,
      description:
        'CPU architecture of the workers: x86_64, or arm64 (Graviton, less per core; the worker\'s sharp and onnxruntime-node ship arm64 binaries). ' +
        'Picks the AMI (BaseAmiId, or WorkerArm64BaseAmiId) while WorkerAmiId is empty, and the default instance type.',
    }),
    workerArm64BaseAmiId: p('WorkerArm64BaseAmiId', {
      type: 'String',
      default: '',
      allowedPattern: `^(ami-[0-9a-f]{8,17})?$`,
      description:
        `Amazon Linux 2023 arm64 AMI id, resolved once from ${AL2023_ARM64_AMI_PARAMETER} and pinned like BaseAmiId: ` +
        'workers with WorkerArchitecture=arm64 while WorkerAmiId is empty (required then).',
    }),
    workerCapacity: p('WorkerCapacity', {
      type: 'String',
      default: 'on-demand',
      allowedValues: WORKER_CAPACITIES,
      description:
        'WORKER_CAPACITY: on-demand workers, spot, or spot-first (Spot, on-demand when EC2 has no Spot capacity). ' +
        'Spot workers hand their images back on the two-minute interruption notice.',
    }),
    controlHostInstanceType: p('ControlHostInstanceType', {
      type: 'String',
      default: 't3.small',
      description: 'Instance type of the control hosts (each runs the web tier and both controllers).',
    }),
    controlHostCount: p('ControlHostCount', {
      type: 'Number',
      default: 2,
      minValue: 2,
      maxValue: 20,
      description:
        'Control hosts in the Auto Scaling group, spread over two availability zones: each runs the web tier (behind the load balancer) ' +
        'and both controllers (one launch controller holds the launch lease, the others stand by). At least 2, so no single host is in the path.',
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
    queueMaxAgeSeconds: p('QueueMaxAgeSeconds', {
      type: 'Number',
      default: 300,
      minValue: 60,
      description:
        'Alarm when the oldest message of the monitor queue (deadline checks) or the output queue (results for the web tiers) ' +
        'is older than this plus its longest delay: a controller or web tier is not consuming.',
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
