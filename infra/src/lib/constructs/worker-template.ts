import { Aws, CfnCondition, CfnRule, Fn, RemovalPolicy } from 'aws-cdk-lib/core';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { RESULT_PREFIX, WORKER_STATE_TAG } from '@app/contracts';
import { DEFAULT_WORKER_INSTANCE_TYPES, type Parameters } from '../parameters';
import { renderUserData } from '../user-data';
import type { Queues } from './queues';
import type { ResultsTopic } from './results-topic';
import { ARTIFACT_PREFIX, keepLogicalId, MODEL_PREFIX, type Storage } from './storage';

/** The metric every worker's CloudWatch agent reports once a minute (deploy/user-data/worker.sh): its sample count is the fleet size. */
export const FLEET_METRIC = 'mem_used_percent';
export const fleetNamespace = (stackName: string) => `ICS/${stackName}`;

/** Output bucket prefixes of heartbeatKey and attemptKey (libs/contracts keys.ts). */
export const HEARTBEAT_PREFIX = 'heartbeats/';
export const ATTEMPT_PREFIX = 'attempts/';

/** The root volume every worker gets; the launch controller may not ask for a bigger one. */
export const WORKER_VOLUME_GB = 16;

export interface WorkerTemplateProps {
  name: string;
  params: Parameters;
  storage: Storage;
  queues: Queues;
  results: ResultsTopic;
  /** An isolated subnet (no route out of the VPC) with the endpoints the worker calls. */
  subnet: ec2.ISubnet;
  vpc: ec2.IVpc;
  /** The configuration every host shares (region, buckets, queues, ...), as user data values. */
  shared: Record<string, string>;
}

/** A CloudWatch Logs group with the stack's retention parameter, writable by what ships to it. */
export function appLogGroup(scope: Construct, id: string, logGroupName: string, params: Parameters): logs.CfnLogGroup {
  const group = new logs.CfnLogGroup(scope, id, { logGroupName, retentionInDays: params.logRetentionDays.valueAsNumber });
  // A fixed name: a stack deleted and created again must not find its old group in the way.
  group.applyRemovalPolicy(RemovalPolicy.DESTROY);
  return group;
}

/** What the CloudWatch agent calls to ship a log file to an existing group. */
export function shipLogsStatement(sid: string, groups: logs.CfnLogGroup[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid,
    actions: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
    // A group's Arn attribute ends in `:*`, which also covers its log streams.
    resources: groups.map((g) => g.attrArn),
  });
}

/**
 * The classifier worker: its role (only what the worker loop calls, and only on its
 * own instance), instance profile, security group (no inbound), log group and the
 * launch template the launch controller launches from.
 */
export class WorkerTemplate extends Construct {
  readonly role: iam.Role;
  readonly instanceProfile: iam.InstanceProfile;
  readonly securityGroup: ec2.SecurityGroup;
  readonly launchTemplate: ec2.CfnLaunchTemplate;
  readonly logGroup: logs.CfnLogGroup;
  /** The worker AMI: WorkerAmiId, or while that is empty BaseAmiId (x86_64) or WorkerArm64BaseAmiId (arm64). */
  readonly imageId: string;
  /** The one instance type workers launch as: WorkerInstanceType, or the architecture's default. */
  readonly instanceType: string;

  constructor(scope: Construct, id: string, props: WorkerTemplateProps) {
    super(scope, id);
    const { name, params, storage, queues } = props;

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'classifier workers: no inbound, outbound to AWS APIs',
      allowAllOutbound: true,
    });
    keepLogicalId(this.securityGroup, 'WorkerSecurityGroup5529CF0B');
    this.logGroup = appLogGroup(this, 'Logs', `/${name}/classifier-worker`, params);

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: `${name}: classifier workers`,
    });
    const allow = (sid: string, s: Omit<iam.PolicyStatementProps, 'sid'>) => this.role.addToPolicy(new iam.PolicyStatement({ sid, ...s }));
    allow('ReadInputImages', { actions: ['s3:GetObject'], resources: [storage.inputBucket.arnForObjects('*')] });
    // Results under results/ only (first writer wins: a refused conditional put reads the
    // winner; the bucket policy refuses any write there that is not a conditional create),
    // its own heartbeat (heartbeat-keeper.ts), and the monitor's attempt records, read-only.
    // Nothing else in the output bucket: a worker decodes untrusted bytes, so it must not be
    // able to touch batch indexes, idempotency records or the launch lease.
    allow('Results', { actions: ['s3:GetObject', 's3:PutObject'], resources: [storage.outputBucket.arnForObjects(`${RESULT_PREFIX}*`)] });
    allow('Heartbeats', { actions: ['s3:PutObject'], resources: [storage.outputBucket.arnForObjects(`${HEARTBEAT_PREFIX}*`)] });
    allow('ReadAttempts', { actions: ['s3:GetObject'], resources: [storage.outputBucket.arnForObjects(`${ATTEMPT_PREFIX}*`)] });
    // Without ListBucket a missing object is 403 instead of 404, and "not there" is what the publisher asks.
    allow('ListResults', { actions: ['s3:ListBucket'], resources: [storage.outputBucket.bucketArn] });
    // ChangeMessageVisibility: the claim stage keeps a held message invisible, and hands one back (0) on shutdown.
    allow('TakeLaunchMessages', {
      actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'],
      resources: [queues.launchQueue.queueArn],
    });
    // A passing S3/SQS failure hands the image back: the same attempt sent again to the launch queue.
    allow('HandBackLaunchMessages', { actions: ['sqs:SendMessage'], resources: [queues.launchQueue.queueArn] });
    // Each result to every web tier (PublishBatch is authorised as sns:Publish).
    allow('PublishResults', { actions: ['sns:Publish'], resources: [props.results.topic.topicArn] });
    allow('SendMonitorAndOutputMessages', {
      actions: ['sqs:SendMessage'],
      resources: [queues.monitorQueue.queueArn, queues.outputQueue.queueArn],
    });
    // The worker reports its state on its own instance and nowhere else: the instance
    // tagged must be the one the request comes from, and only the state tag. No
    // TerminateInstances: an idle worker exits and systemd powers the instance off,
    // which terminates it (InstanceInitiatedShutdownBehavior below).
    allow('TagOwnWorkerState', {
      actions: ['ec2:CreateTags'],
      resources: [`arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:instance/*`],
      conditions: {
        StringEquals: { 'aws:ARN': '${ec2:SourceInstanceARN}' },
        'ForAllValues:StringEquals': { 'aws:TagKeys': [WORKER_STATE_TAG] },
      },
    });
    // Install at boot from a stock AMI, and baking: the worker artifact and the model.
    allow('ReadArtifactsAndModel', {
      actions: ['s3:GetObject'],
      resources: [storage.artifactBucket.arnForObjects(`${ARTIFACT_PREFIX}*`), storage.artifactBucket.arnForObjects(`${MODEL_PREFIX}*`)],
    });
    allow('ListModel', {
      actions: ['s3:ListBucket'],
      resources: [storage.artifactBucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${MODEL_PREFIX}*`] } },
    });
    this.role.addToPolicy(shipLogsStatement('ShipWorkerLogs', [this.logGroup]));
    // The agent's fleet-size metric, in the stack's own namespace only (PutMetricData has no resources).
    allow('PublishFleetMetric', {
      actions: ['cloudwatch:PutMetricData'],
      resources: ['*'],
      conditions: { StringEquals: { 'cloudwatch:namespace': fleetNamespace(name) } },
    });
    this.instanceProfile = new iam.InstanceProfile(this, 'InstanceProfile', { role: this.role });

    const useBakedAmi = new CfnCondition(this, 'UseBakedAmi', {
      expression: Fn.conditionNot(Fn.conditionEquals(params.workerAmiId.valueAsString, '')),
    });
    const arm64 = new CfnCondition(this, 'Arm64Workers', { expression: Fn.conditionEquals(params.workerArchitecture.valueAsString, 'arm64') });
    // Pinned, not looked up at deploy time (like BaseAmiId): a deploy never changes the workers' OS by itself.
    new CfnRule(this, 'Arm64WorkersNeedAnAmi', {
      ruleCondition: Fn.conditionAnd(
        Fn.conditionEquals(params.workerArchitecture.valueAsString, 'arm64'),
        Fn.conditionEquals(params.workerAmiId.valueAsString, ''),
      ),
      assertions: [
        {
          assert: Fn.conditionNot(Fn.conditionEquals(params.workerArm64BaseAmiId.valueAsString, '')),
          assertDescription: 'WorkerArchitecture=arm64 needs WorkerArm64BaseAmiId (Amazon Linux 2023 arm64) or WorkerAmiId (a baked arm64 AMI)',
        },
      ],
    });
    const stockAmi = Fn.conditionIf(arm64.logicalId, params.workerArm64BaseAmiId.valueAsString, params.baseAmiId.valueAsString);
    this.imageId = Fn.conditionIf(useBakedAmi.logicalId, params.workerAmiId.valueAsString, stockAmi).toString();
    const defaultType = new CfnCondition(this, 'DefaultInstanceType', { expression: Fn.conditionEquals(params.workerInstanceType.valueAsString, '') });
    this.instanceType = Fn.conditionIf(
      defaultType.logicalId,
      Fn.conditionIf(arm64.logicalId, DEFAULT_WORKER_INSTANCE_TYPES.arm64, DEFAULT_WORKER_INSTANCE_TYPES.x86_64),
      params.workerInstanceType.valueAsString,
    ).toString();

    this.launchTemplate = new ec2.CfnLaunchTemplate(this, 'LaunchTemplate', {
      launchTemplateName: `${name}-worker`,
      launchTemplateData: {
        imageId: this.imageId,
        instanceType: this.instanceType,
        iamInstanceProfile: { arn: this.instanceProfile.instanceProfileArn },
        // The network is part of the template: the EC2 fleet launches from it with tags only.
        networkInterfaces: [
          {
            deviceIndex: 0,
            subnetId: props.subnet.subnetId,
            groups: [this.securityGroup.securityGroupId],
            // No public address: the worker subnet is isolated and reaches only the AWS
            // endpoints in the VPC (S3, SQS, SNS, EC2, CloudWatch); IMDS is link-local.
            associatePublicIpAddress: false,
            deleteOnTermination: true,
          },
        ],
        blockDeviceMappings: [
          { deviceName: '/dev/xvda', ebs: { volumeSize: WORKER_VOLUME_GB, volumeType: 'gp3', encrypted: true, deleteOnTermination: true } },
        ],
        // Scale-in terminates: an idle worker's own shutdown (or a failed boot) removes the instance.
        instanceInitiatedShutdownBehavior: 'terminate',
        metadataOptions: { httpTokens: 'required', httpEndpoint: 'enabled', httpPutResponseHopLimit: 1 },
        userData: Fn.base64(
          renderUserData('worker.sh', {
            ...props.shared,
            MODEL_URL: params.modelUrl.valueAsString,
            MODEL_SHA256: params.modelSha256.valueAsString,
            LOG_GROUP: this.logGroup.ref,
          }),
        ),
      },
    });
    this.launchTemplate.overrideLogicalId('WorkerLaunchTemplate');
  }
}
