import {
  Aws,
  CfnCondition,
  CfnOutput,
  CfnParameter,
  Duration,
  Fn,
  RemovalPolicy,
  Stack,
  Tags,
  type StackProps,
} from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { ROLE_TAG, STACK_TAG, WORKER_ROLE, WORKER_STATE_TAG } from '@app/contracts';
import { renderUserData } from './user-data';

/**
 * The stack's name is also STACK_NAME and the ics:stack tag value: STACK_NAME's rule
 * (libs/config scaling.env.ts: 1-32 of [A-Za-z0-9-]) and CloudFormation's (starts with a letter).
 */
export const STACK_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9-]{0,31}$/;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Where the artifacts and the model go in the artifact bucket (tools/packaging uploads them). */
export const ARTIFACT_PREFIX = 'artifacts/';
export const MODEL_PREFIX = 'models/current/';

export interface IcsStackProps extends StackProps {
  /** The CloudFormation stack name and the value of the ics:stack tag (STACK_NAME). */
  stackName: string;
  /** Days an uploaded image is kept in the input bucket. */
  inputRetentionDays?: number;
  /** Days a result is kept in the output bucket. */
  outputRetentionDays?: number;
  /** Receives of one launch message before it goes to the dead-letter queue. */
  launchMaxReceiveCount?: number;
}

/**
 * The whole deployment: buckets, queues, a VPC without NAT, the worker launch
 * template and its role, and the control host (web tier + both controllers).
 * Everything the apps need reaches them as the environment variables of
 * libs/config, written by the user data in deploy/user-data/.
 */
export class IcsStack extends Stack {
  readonly inputBucket: s3.Bucket;
  readonly outputBucket: s3.Bucket;
  readonly artifactBucket: s3.Bucket;
  readonly launchQueue: sqs.Queue;
  readonly launchDeadLetterQueue: sqs.Queue;
  readonly monitorQueue: sqs.Queue;
  readonly outputQueue: sqs.Queue;
  readonly workerRole: iam.Role;
  readonly controlHostRole: iam.Role;
  readonly workerLaunchTemplate: ec2.CfnLaunchTemplate;
  readonly controlHost: ec2.Instance;

  constructor(scope: Construct, id: string, props: IcsStackProps) {
    if (!STACK_NAME_PATTERN.test(props.stackName)) {
      throw new Error(
        `stack name ${JSON.stringify(props.stackName)} must be a letter then up to 31 of [A-Za-z0-9-] (it is also STACK_NAME)`,
      );
    }
    super(scope, id, props);
    const name = props.stackName;
    Tags.of(this).add(STACK_TAG, name);

    // ---- Parameters: what differs between deployments of the same template.
    const workerAmiId = new CfnParameter(this, 'WorkerAmiId', {
      type: 'String',
      default: '',
      allowedPattern: '^(ami-[0-9a-f]{8,17})?$',
      description: 'The baked worker AMI (docs/deploy.md). Empty: stock Amazon Linux 2023, the worker installs itself at boot.',
    });
    const workerInstanceType = new CfnParameter(this, 'WorkerInstanceType', {
      type: 'String',
      default: 't3.medium',
      description: 'Instance type of a worker (x86_64: the AMI and @tensorflow/tfjs-node are x86_64).',
    });
    const controlHostInstanceType = new CfnParameter(this, 'ControlHostInstanceType', {
      type: 'String',
      default: 't3.small',
      description: 'Instance type of the control host (web tier and both controllers).',
    });
    const maxWorkers = new CfnParameter(this, 'MaxWorkers', {
      type: 'Number',
      default: 20,
      minValue: 1,
      maxValue: 1000,
      description: 'MAX_WORKERS: most workers alive at once.',
    });
    const idleSeconds = new CfnParameter(this, 'IdleSeconds', {
      type: 'Number',
      default: 60,
      minValue: 1,
      maxValue: 86400,
      description: 'IDLE_SECONDS: a worker with no work for this long terminates itself.',
    });
    const imageDeadlineSeconds = new CfnParameter(this, 'ImageDeadlineSeconds', {
      type: 'Number',
      default: 120,
      minValue: 5,
      // The monitor message is sent with this delay; SQS allows at most 900 s.
      maxValue: 900,
      description: 'IMAGE_DEADLINE_SECONDS: time a worker has for one image before the monitor checks.',
    });
    const modelUrl = new CfnParameter(this, 'ModelUrl', {
      type: 'String',
      default: '',
      description: `MODEL_URL of a TF.js model.json. Empty: the model under s3://<artifact bucket>/${MODEL_PREFIX}.`,
    });
    const webAllowedCidr = new CfnParameter(this, 'WebAllowedCidr', {
      type: 'String',
      default: '0.0.0.0/0',
      allowedPattern: '^\\d{1,3}(\\.\\d{1,3}){3}/\\d{1,2}$',
      description: 'Who may reach the web tier on port 80.',
    });
    const logLevel = new CfnParameter(this, 'LogLevel', {
      type: 'String',
      default: 'info',
      allowedValues: LOG_LEVELS,
      description: 'LOG_LEVEL of every app.',
    });

    // ---- Storage: private, encrypted, TLS only, and emptied by age.
    const privateBucket = (id: string, extra: Partial<s3.BucketProps>) =>
      new s3.Bucket(this, id, {
        encryption: s3.BucketEncryption.S3_MANAGED,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        enforceSSL: true,
        // Deleting the stack deletes the bucket only when it is empty (CloudFormation
        // refuses otherwise), so no data goes by accident: the runbook empties it first.
        removalPolicy: RemovalPolicy.DESTROY,
        ...extra,
      });
    this.inputBucket = privateBucket('InputBucket', {
      lifecycleRules: [
        {
          id: 'expire-uploaded-images',
          expiration: Duration.days(props.inputRetentionDays ?? 7),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
    });
    this.outputBucket = privateBucket('OutputBucket', {
      lifecycleRules: [
        {
          id: 'expire-results',
          expiration: Duration.days(props.outputRetentionDays ?? 30),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
    });
    this.artifactBucket = privateBucket('ArtifactBucket', {
      versioned: true,
      lifecycleRules: [
        {
          id: 'expire-old-artifacts',
          noncurrentVersionExpiration: Duration.days(30),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
    });

    // ---- Queues: SSE-SQS, TLS only.
    const queue = (id: string, extra: sqs.QueueProps) =>
      new sqs.Queue(this, id, { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true, ...extra });
    this.launchDeadLetterQueue = queue('LaunchDeadLetterQueue', {
      queueName: `${name}-launch-dlq`,
      retentionPeriod: Duration.days(14),
    });
    this.launchQueue = queue('LaunchQueue', {
      queueName: `${name}-launch`,
      // A worker deletes its launch message as soon as its monitor message is sent,
      // so a message that keeps coming back is one no worker can take: dead-letter it.
      visibilityTimeout: Duration.seconds(60),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.launchDeadLetterQueue, maxReceiveCount: props.launchMaxReceiveCount ?? 5 },
    });
    this.monitorQueue = queue('MonitorQueue', {
      queueName: `${name}-monitor`,
      visibilityTimeout: Duration.seconds(60),
      retentionPeriod: Duration.days(4),
    });
    this.outputQueue = queue('OutputQueue', {
      queueName: `${name}-output`,
      visibilityTimeout: Duration.seconds(30),
      retentionPeriod: Duration.days(4),
    });

    // ---- Network: public subnets only (no NAT gateway to pay for); S3 through a free gateway endpoint.
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
    });
    const workerSubnet = vpc.publicSubnets[0];
    const workerSecurityGroup = new ec2.SecurityGroup(this, 'WorkerSecurityGroup', {
      vpc,
      description: 'classifier workers: no inbound, outbound to AWS APIs',
      allowAllOutbound: true,
    });
    const controlSecurityGroup = new ec2.SecurityGroup(this, 'ControlHostSecurityGroup', {
      vpc,
      description: 'control host: the web tier on port 80',
      allowAllOutbound: true,
    });
    controlSecurityGroup.addIngressRule(ec2.Peer.ipv4(webAllowedCidr.valueAsString), ec2.Port.tcp(80), 'web tier');

    // ---- Worker: role, instance profile, launch template.
    const instanceArns = `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:instance/*`;
    const isOurWorker = {
      [`aws:ResourceTag/${STACK_TAG}`]: name,
      [`aws:ResourceTag/${ROLE_TAG}`]: WORKER_ROLE,
    };
    this.workerRole = new iam.Role(this, 'WorkerRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: `${name}: classifier workers`,
    });
    const worker = (sid: string, s: Omit<iam.PolicyStatementProps, 'sid'>) =>
      this.workerRole.addToPolicy(new iam.PolicyStatement({ sid, ...s }));
    worker('ReadInputImages', { actions: ['s3:GetObject'], resources: [this.inputBucket.arnForObjects('*')] });
    worker('WriteResults', { actions: ['s3:PutObject'], resources: [this.outputBucket.arnForObjects('*')] });
    worker('TakeLaunchMessages', {
      actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage'],
      resources: [this.launchQueue.queueArn],
    });
    worker('SendMonitorAndOutputMessages', {
      actions: ['sqs:SendMessage'],
      resources: [this.monitorQueue.queueArn, this.outputQueue.queueArn],
    });
    // The worker reports its state on its own instance: only the state tag, only on this stack's workers.
    worker('TagOwnWorkerState', {
      actions: ['ec2:CreateTags'],
      resources: [instanceArns],
      conditions: {
        StringEquals: isOurWorker,
        'ForAllValues:StringEquals': { 'aws:TagKeys': [WORKER_STATE_TAG] },
      },
    });
    worker('TerminateWhenIdle', {
      actions: ['ec2:TerminateInstances'],
      resources: [instanceArns],
      conditions: { StringEquals: isOurWorker },
    });
    // Install at boot from a stock AMI, and baking: the worker artifact and the model.
    worker('ReadArtifactsAndModel', {
      actions: ['s3:GetObject'],
      resources: [
        this.artifactBucket.arnForObjects(`${ARTIFACT_PREFIX}*`),
        this.artifactBucket.arnForObjects(`${MODEL_PREFIX}*`),
      ],
    });
    worker('ListModel', {
      actions: ['s3:ListBucket'],
      resources: [this.artifactBucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${MODEL_PREFIX}*`] } },
    });
    const workerProfile = new iam.InstanceProfile(this, 'WorkerInstanceProfile', { role: this.workerRole });

    // Amazon Linux 2023 (SSM public parameter, resolved at deploy time): the control
    // host's image, and the worker's until a baked AMI is given.
    const amazonLinux = ec2.MachineImage.latestAmazonLinux2023();
    const useBakedAmi = new CfnCondition(this, 'UseBakedWorkerAmi', {
      expression: Fn.conditionNot(Fn.conditionEquals(workerAmiId.valueAsString, '')),
    });
    const workerImageId = Fn.conditionIf(
      useBakedAmi.logicalId,
      workerAmiId.valueAsString,
      amazonLinux.getImage(this).imageId,
    ).toString();

    const common = {
      AWS_REGION: Aws.REGION,
      STACK_NAME: name,
      INPUT_BUCKET: this.inputBucket.bucketName,
      OUTPUT_BUCKET: this.outputBucket.bucketName,
      LAUNCH_QUEUE_URL: this.launchQueue.queueUrl,
      MONITOR_QUEUE_URL: this.monitorQueue.queueUrl,
      OUTPUT_QUEUE_URL: this.outputQueue.queueUrl,
      IDLE_SECONDS: idleSeconds.valueAsString,
      IMAGE_DEADLINE_SECONDS: imageDeadlineSeconds.valueAsString,
      LOG_LEVEL: logLevel.valueAsString,
      ARTIFACT_BUCKET: this.artifactBucket.bucketName,
    };
    this.workerLaunchTemplate = new ec2.CfnLaunchTemplate(this, 'WorkerLaunchTemplate', {
      launchTemplateName: `${name}-worker`,
      launchTemplateData: {
        imageId: workerImageId,
        instanceType: workerInstanceType.valueAsString,
        iamInstanceProfile: { arn: workerProfile.instanceProfileArn },
        // The network is part of the template: the EC2 fleet launches from it with tags only.
        networkInterfaces: [
          {
            deviceIndex: 0,
            subnetId: workerSubnet.subnetId,
            groups: [workerSecurityGroup.securityGroupId],
            associatePublicIpAddress: true,
            deleteOnTermination: true,
          },
        ],
        // Scale-in terminates: an idle worker's own shutdown (or a failed boot) removes the instance.
        instanceInitiatedShutdownBehavior: 'terminate',
        metadataOptions: { httpTokens: 'required', httpEndpoint: 'enabled', httpPutResponseHopLimit: 1 },
        userData: Fn.base64(renderUserData('worker.sh', { ...common, MODEL_URL: modelUrl.valueAsString })),
      },
    });

    // ---- Control host: role, instance.
    this.controlHostRole = new iam.Role(this, 'ControlHostRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: `${name}: web tier, launch controller, monitor controller`,
      // Session Manager instead of SSH: no key pair, no port 22.
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    const control = (sid: string, s: Omit<iam.PolicyStatementProps, 'sid'>) =>
      this.controlHostRole.addToPolicy(new iam.PolicyStatement({ sid, ...s }));
    const arn = (resource: string) => `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
    const launchTemplateArn = arn(`launch-template/${this.workerLaunchTemplate.ref}`);
    // What the three apps call (libs/aws adapters), by bucket and queue:
    // web tier: put uploads, HEAD/list them and presign GETs for the page, delete the
    // images of a batch whose launch messages could not be sent; monitor controller:
    // HEAD/read results and write the error result after the last attempt.
    control('InputImages', {
      actions: ['s3:PutObject', 's3:GetObject', 's3:DeleteObject'],
      resources: [this.inputBucket.arnForObjects('*')],
    });
    control('Results', { actions: ['s3:GetObject', 's3:PutObject'], resources: [this.outputBucket.arnForObjects('*')] });
    // Without ListBucket a missing result is 403 instead of 404, and "not there yet" is
    // exactly what the monitor controller and the web tier ask; the web tier also lists a batch.
    control('ListBuckets', {
      actions: ['s3:ListBucket'],
      resources: [this.inputBucket.bucketArn, this.outputBucket.bucketArn],
    });
    // monitor controller: a dead-lettered launch message becomes an error result.
    control('ConsumeLaunchDeadLetters', {
      actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
      resources: [this.launchDeadLetterQueue.queueArn],
    });
    // web tier sends launch messages; launch controller reads the depth; monitor controller re-queues.
    control('SendLaunchMessages', {
      actions: ['sqs:SendMessage', 'sqs:GetQueueAttributes'],
      resources: [this.launchQueue.queueArn],
    });
    control('ConsumeMonitorAndOutputMessages', {
      actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'],
      resources: [this.monitorQueue.queueArn, this.outputQueue.queueArn],
    });
    // monitor controller: a check put back for later, and error results after the last attempt.
    control('SendMonitorAndOutputMessages', {
      actions: ['sqs:SendMessage'],
      resources: [this.monitorQueue.queueArn, this.outputQueue.queueArn],
    });
    control('ReadArtifacts', {
      actions: ['s3:GetObject'],
      resources: [this.artifactBucket.arnForObjects(`${ARTIFACT_PREFIX}*`)],
    });
    // launch controller: workers only from the launch template, only tagged as this stack's workers.
    control('LaunchFromWorkerTemplate', { actions: ['ec2:RunInstances'], resources: [launchTemplateArn] });
    control('LaunchTaggedWorkerInstances', {
      actions: ['ec2:RunInstances'],
      resources: [arn('instance/*')],
      conditions: {
        ArnLike: { 'ec2:LaunchTemplate': launchTemplateArn },
        StringEquals: {
          [`aws:RequestTag/${STACK_TAG}`]: name,
          [`aws:RequestTag/${ROLE_TAG}`]: WORKER_ROLE,
        },
      },
    });
    control('LaunchIntoStackNetwork', {
      actions: ['ec2:RunInstances'],
      resources: [
        arn('volume/*'),
        arn('network-interface/*'),
        arn(`security-group/${workerSecurityGroup.securityGroupId}`),
        arn(`subnet/${workerSubnet.subnetId}`),
        `arn:${Aws.PARTITION}:ec2:${Aws.REGION}::image/${workerImageId}`,
      ],
    });
    control('TagWorkersAtLaunch', {
      actions: ['ec2:CreateTags'],
      resources: [arn('instance/*'), arn('volume/*')],
      conditions: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
    });
    control('TerminateStackWorkers', {
      actions: ['ec2:TerminateInstances'],
      resources: [instanceArns],
      conditions: { StringEquals: isOurWorker },
    });
    // Describe* cannot be narrowed to resources (an EC2 API rule).
    control('ListWorkers', { actions: ['ec2:DescribeInstances', 'ec2:DescribeInstanceStatus'], resources: ['*'] });
    control('PassWorkerRole', {
      actions: ['iam:PassRole'],
      resources: [this.workerRole.roleArn],
      conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
    });

    const controlUserData = renderUserData('control-host.sh', {
      ...common,
      MAX_WORKERS: maxWorkers.valueAsString,
      EC2_LAUNCH_TEMPLATE_ID: this.workerLaunchTemplate.ref,
      LAUNCH_DEAD_LETTER_QUEUE_URL: this.launchDeadLetterQueue.queueUrl,
    });
    this.controlHost = new ec2.Instance(this, 'ControlHost', {
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      instanceType: new ec2.InstanceType(controlHostInstanceType.valueAsString),
      machineImage: amazonLinux,
      role: this.controlHostRole,
      securityGroup: controlSecurityGroup,
      requireImdsv2: true,
      userData: ec2.UserData.custom(controlUserData),
      blockDevices: [
        { deviceName: '/dev/xvda', volume: ec2.BlockDeviceVolume.ebs(16, { encrypted: true, volumeType: ec2.EbsDeviceVolumeType.GP3 }) },
      ],
    });

    // ---- Outputs: what the runbook and `tools/packaging` deploy read.
    const out = (id: string, value: string, description: string) => new CfnOutput(this, id, { value, description });
    out('InputBucketName', this.inputBucket.bucketName, 'INPUT_BUCKET');
    out('OutputBucketName', this.outputBucket.bucketName, 'OUTPUT_BUCKET');
    out('ArtifactBucketName', this.artifactBucket.bucketName, 'Worker and control host artifacts, and the model');
    out('LaunchQueueUrl', this.launchQueue.queueUrl, 'LAUNCH_QUEUE_URL');
    out('LaunchDeadLetterQueueUrl', this.launchDeadLetterQueue.queueUrl, 'Launch messages no worker could take');
    out('MonitorQueueUrl', this.monitorQueue.queueUrl, 'MONITOR_QUEUE_URL');
    out('OutputQueueUrl', this.outputQueue.queueUrl, 'OUTPUT_QUEUE_URL');
    out('WorkerLaunchTemplateId', this.workerLaunchTemplate.ref, 'EC2_LAUNCH_TEMPLATE_ID');
    out('WorkerSubnetId', workerSubnet.subnetId, 'The subnet workers run in (set in the launch template)');
    out('WorkerInstanceProfileName', workerProfile.instanceProfileName, 'For the AMI builder instance');
    out('ControlHostInstanceId', this.controlHost.instanceId, 'aws ssm start-session --target <this>');
    out('WebUrl', `http://${this.controlHost.instancePublicDnsName}/`, 'The web tier');
  }
}
