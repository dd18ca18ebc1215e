import { Aws } from 'aws-cdk-lib/core';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { RESULT_PREFIX, ROLE_TAG, STACK_TAG, WORKER_ROLE } from '@app/contracts';
import type { Parameters } from '../parameters';
import type { ControlApp } from '@app/contracts';
import type { Queues } from './queues';
import type { ResultsTopic } from './results-topic';
import type { Storage } from './storage';
import { WORKER_VOLUME_GB, type WorkerTemplate } from './worker-template';

export interface ServiceRolesProps {
  name: string;
  /** The control host's instance role: the only principal that may assume these. */
  hostRole: iam.IRole;
  storage: Storage;
  queues: Queues;
  results: ResultsTopic;
  worker: WorkerTemplate;
  params: Parameters;
  apiKeys: secretsmanager.ISecret;
  configPaths: Record<ControlApp, string[]>;
}

/** Output bucket prefixes the web tier writes (libs/contracts keys.ts: batchIndexKey, batchListKey, idempotencyKey). */
export const WEB_TIER_OUTPUT_PREFIXES = ['batches/', 'batch-list/', 'idempotency/'];
/** Where the launch lease lives in the output bucket (apps/launch-controller launch-lease.ts). */
export const LEASE_PREFIX = 'control/';

/**
 * One role per control app, each with exactly the calls that app makes (libs/aws
 * adapters, libs/fleet's EC2 provider), bucket by bucket and queue by queue. The
 * internet-facing web tier cannot launch, terminate or pass a role; the launch
 * controller can only launch workers from the template; the monitor controller can
 * only terminate this stack's workers.
 */
export class ServiceRoles extends Construct {
  readonly roles: Record<ControlApp, iam.Role>;

  constructor(scope: Construct, id: string, props: ServiceRolesProps) {
    super(scope, id);
    const { name, storage, queues, worker } = props;
    const role = (roleId: string, app: ControlApp) =>
      new iam.Role(this, roleId, {
        roleName: `${name}-${app}`,
        assumedBy: new iam.ArnPrincipal(props.hostRole.roleArn),
        description: `${name}: ${app} on the control host (assumed by the host's credential refresher)`,
      });
    this.roles = {
      'web-tier': role('WebTier', 'web-tier'),
      'launch-controller': role('LaunchController', 'launch-controller'),
      'monitor-controller': role('MonitorController', 'monitor-controller'),
    };
    const allow = (app: ControlApp, sid: string, s: Omit<iam.PolicyStatementProps, 'sid'>) =>
      this.roles[app].addToPolicy(new iam.PolicyStatement({ sid, ...s }));
    const arn = (resource: string) => `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
    const parameterArn = (path: string) => `arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:parameter${path}`;

    // Every app: its own configuration paths (libs/platform ssm-config.ts), nothing else in SSM.
    for (const [app, paths] of Object.entries(props.configPaths) as [ControlApp, string[]][]) {
      allow(app, 'ReadOwnConfig', { actions: ['ssm:GetParametersByPath'], resources: paths.map(parameterArn) });
    }

    // ---- web tier: uploads in, results out, the page's presigned GETs, /health's probes.
    allow('web-tier', 'InputImages', {
      actions: ['s3:PutObject', 's3:GetObject', 's3:DeleteObject'],
      resources: [storage.inputBucket.arnForObjects('*')],
    });
    allow('web-tier', 'ReadResults', { actions: ['s3:GetObject'], resources: [storage.outputBucket.arnForObjects('*')] });
    // Without ListBucket a missing result is 403 instead of 404; a batch is listed.
    allow('web-tier', 'ListBuckets', { actions: ['s3:ListBucket'], resources: [storage.inputBucket.bucketArn, storage.outputBucket.bucketArn] });
    // The batch index, the batch list and Idempotency-Key records live in the output bucket
    // (apps/web-tier batch-index.ts, idempotency.ts); DELETE /api/batches/{id} removes a
    // batch's results and records too. Results themselves are written only by workers and
    // the monitor controller.
    allow('web-tier', 'BatchIndexAndIdempotency', {
      actions: ['s3:PutObject', 's3:DeleteObject'],
      resources: WEB_TIER_OUTPUT_PREFIXES.map((p) => storage.outputBucket.arnForObjects(`${p}*`)),
    });
    allow('web-tier', 'DeleteBatchResults', {
      actions: ['s3:DeleteObject'],
      resources: [RESULT_PREFIX, 'attempts/', 'announced/'].map((p) => storage.outputBucket.arnForObjects(`${p}*`)),
    });
    // Its own results queue on the results topic (libs/aws SubscribedQueue): created, tagged,
    // subscribed and consumed at start, removed at stop; abandoned ones swept. Only queues
    // named WEB_TIER_QUEUE_PREFIX*, never the stack's own.
    allow('web-tier', 'OwnResultsQueue', {
      actions: [
        'sqs:CreateQueue', 'sqs:GetQueueUrl', 'sqs:GetQueueAttributes', 'sqs:SetQueueAttributes', 'sqs:TagQueue', 'sqs:ListQueueTags',
        'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:DeleteQueue',
      ],
      resources: [props.results.webTierQueueArns],
    });
    allow('web-tier', 'SubscribeToResults', {
      actions: ['sns:Subscribe', 'sns:Unsubscribe', 'sns:ListSubscriptionsByTopic'],
      resources: [props.results.topic.topicArn],
    });
    allow('web-tier', 'SendLaunchMessages', { actions: ['sqs:SendMessage', 'sqs:GetQueueAttributes'], resources: [queues.launchQueue.queueArn] });
    // /api/status shows the monitor queue's depth too.
    allow('web-tier', 'ReadMonitorQueueDepth', { actions: ['sqs:GetQueueAttributes'], resources: [queues.monitorQueue.queueArn] });
    // ChangeMessageVisibility: a consumer keeps a message hidden while its handler runs, and gives back one it abandons.
    allow('web-tier', 'ConsumeOutputMessages', {
      actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'],
      resources: [queues.outputQueue.queueArn],
    });
    // Webhooks (apps/web-tier webhooks/): the delivery queue, which the web tier both feeds (a
    // retry is a new delayed message) and consumes, and its records under webhooks/.
    allow('web-tier', 'WebhookDeliveries', {
      actions: ['sqs:SendMessage', 'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'],
      resources: [queues.webhookQueue.queueArn],
    });
    allow('web-tier', 'WebhookRecords', { actions: ['s3:PutObject', 's3:DeleteObject'], resources: [storage.outputBucket.arnForObjects('webhooks/*')] });
    // The API keys, read through SSM's Secrets Manager reference (apps/web-tier api-keys.ts).
    allow('web-tier', 'ReadApiKeys', {
      actions: ['ssm:GetParameter'],
      resources: [parameterArn(`/aws/reference/secretsmanager/${name}/api-keys`)],
    });
    allow('web-tier', 'ReadApiKeysSecret', { actions: ['secretsmanager:GetSecretValue'], resources: [props.apiKeys.secretArn] });

    // ---- launch controller: the backlog, and workers only as the template makes them.
    allow('launch-controller', 'ReadLaunchQueueDepth', { actions: ['sqs:GetQueueAttributes'], resources: [queues.launchQueue.queueArn] });
    // The launch lease (launch-lease.ts): one object under control/, written with conditional
    // puts, so that of the controllers on every control host exactly one launches.
    allow('launch-controller', 'LaunchLease', {
      actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
      resources: [storage.outputBucket.arnForObjects(`${LEASE_PREFIX}*`)],
    });
    // Without ListBucket a missing lease is 403 instead of 404 (a prefix condition would not
    // help: a GET carries no s3:prefix).
    allow('launch-controller', 'ListLease', { actions: ['s3:ListBucket'], resources: [storage.outputBucket.bucketArn] });
    const launchTemplateArn = arn(`launch-template/${worker.launchTemplate.ref}`);
    // Every resource of the launch must come from the worker template, unchanged
    // (ec2:IsLaunchTemplateResource): no other type, volume, network or image.
    const fromTemplate = {
      ArnLike: { 'ec2:LaunchTemplate': launchTemplateArn },
      Bool: { 'ec2:IsLaunchTemplateResource': 'true' },
    };
    allow('launch-controller', 'LaunchFromWorkerTemplate', { actions: ['ec2:RunInstances'], resources: [launchTemplateArn] });
    allow('launch-controller', 'LaunchWorkerInstances', {
      actions: ['ec2:RunInstances'],
      resources: [arn('instance/*')],
      conditions: {
        ...fromTemplate,
        StringEquals: {
          'ec2:InstanceType': worker.instanceType,
          [`aws:RequestTag/${STACK_TAG}`]: name,
          [`aws:RequestTag/${ROLE_TAG}`]: WORKER_ROLE,
        },
      },
    });
    allow('launch-controller', 'LaunchWorkerVolumes', {
      actions: ['ec2:RunInstances'],
      resources: [arn('volume/*')],
      conditions: { ...fromTemplate, NumericLessThanEquals: { 'ec2:VolumeSize': WORKER_VOLUME_GB } },
    });
    allow('launch-controller', 'LaunchIntoWorkerNetwork', {
      actions: ['ec2:RunInstances'],
      resources: [
        arn('network-interface/*'),
        arn(`security-group/${worker.securityGroup.securityGroupId}`),
        arn(`subnet/${subnetOf(worker)}`),
        `arn:${Aws.PARTITION}:ec2:${Aws.REGION}::image/${worker.imageId}`,
      ],
      conditions: fromTemplate,
    });
    allow('launch-controller', 'TagWorkersAtLaunch', {
      actions: ['ec2:CreateTags'],
      resources: [arn('instance/*'), arn('volume/*'), arn('network-interface/*')],
      conditions: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
    });
    allow('launch-controller', 'PassWorkerRole', {
      actions: ['iam:PassRole'],
      resources: [worker.role.roleArn],
      conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
    });

    // ---- monitor controller: deadlines, re-queues, error results, dead letters, stuck workers.
    allow('monitor-controller', 'ConsumeMonitorMessages', {
      actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes', 'sqs:SendMessage'],
      resources: [queues.monitorQueue.queueArn],
    });
    allow('monitor-controller', 'RequeueImages', { actions: ['sqs:SendMessage'], resources: [queues.launchQueue.queueArn] });
    allow('monitor-controller', 'SendErrorResults', { actions: ['sqs:SendMessage'], resources: [queues.outputQueue.queueArn] });
    allow('monitor-controller', 'PublishResults', { actions: ['sns:Publish'], resources: [props.results.topic.topicArn] });
    allow('monitor-controller', 'Results', { actions: ['s3:GetObject', 's3:PutObject'], resources: [storage.outputBucket.arnForObjects('*')] });
    allow('monitor-controller', 'ListResults', { actions: ['s3:ListBucket'], resources: [storage.outputBucket.bucketArn] });
    // Its poll loops (libs/aws QueueConsumer) extend a message's visibility while they work on it.
    allow('monitor-controller', 'ConsumeDeadLetters', {
      actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'],
      resources: [queues.launchDeadLetterQueue.queueArn, queues.monitorDeadLetterQueue.queueArn],
    });
    allow('monitor-controller', 'TerminateStackWorkers', {
      actions: ['ec2:TerminateInstances'],
      resources: [arn('instance/*')],
      conditions: { StringEquals: { [`aws:ResourceTag/${STACK_TAG}`]: name, [`aws:ResourceTag/${ROLE_TAG}`]: WORKER_ROLE } },
    });

    // Both controllers read the fleet; Describe* cannot be narrowed to resources (an EC2 API rule).
    for (const app of ['launch-controller', 'monitor-controller'] as const) {
      allow(app, 'ListWorkers', { actions: ['ec2:DescribeInstances'], resources: ['*'] });
    }
  }
}

/** The worker subnet id, as the launch template's network interface names it. */
function subnetOf(worker: WorkerTemplate): string {
  const data = worker.launchTemplate.launchTemplateData as { networkInterfaces: { subnetId: string }[] };
  return data.networkInterfaces[0].subnetId;
}
