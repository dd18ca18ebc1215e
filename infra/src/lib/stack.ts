import { Aws, CfnOutput, CfnRule, Duration, Fn, Stack, Tags, type StackProps } from 'aws-cdk-lib/core';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import { STACK_TAG } from '@app/contracts';
import { ControlHost, WEB_PORT } from './constructs/control-host';
import { Edge } from './constructs/edge';
import { Operations } from './constructs/operations';
import { Queues } from './constructs/queues';
import { ResultsTopic } from './constructs/results-topic';
import { Storage } from './constructs/storage';
import { WorkerNetwork } from './constructs/worker-network';
import { WorkerTemplate } from './constructs/worker-template';
import { defineParameters } from './parameters';

export { LOG_LEVELS } from './parameters';
export { ARTIFACT_PREFIX, MODEL_PREFIX } from './constructs/storage';

/**
 * The stack's name is also STACK_NAME and the ics:stack tag value: STACK_NAME's rule
 * (libs/config scaling.env.ts: 1-32 of [A-Za-z0-9-]) and CloudFormation's (starts with a letter).
 */
export const STACK_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9-]{0,31}$/;

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
 * The whole deployment, one construct per concern: storage (buckets), queues (with
 * dead-letter queues), the worker template (role, launch template), the control host
 * group (per-app roles, configuration in SSM, API keys in Secrets Manager), the edge
 * (HTTPS load balancer), the workers' endpoints, and operations (alarms, dashboard,
 * budget). A VPC without NAT holds them.
 */
export class IcsStack extends Stack {
  readonly storage: Storage;
  readonly queues: Queues;
  readonly results: ResultsTopic;
  readonly worker: WorkerTemplate;
  readonly workerNetwork: WorkerNetwork;
  readonly controlHost: ControlHost;
  readonly edge: Edge;
  readonly operations: Operations;

  constructor(scope: Construct, id: string, props: IcsStackProps) {
    if (!STACK_NAME_PATTERN.test(props.stackName)) {
      throw new Error(
        `stack name ${JSON.stringify(props.stackName)} must be a letter then up to 31 of [A-Za-z0-9-] (it is also STACK_NAME)`,
      );
    }
    super(scope, id, props);
    const name = props.stackName;
    Tags.of(this).add(STACK_TAG, name);
    const params = defineParameters(this);
    new CfnRule(this, 'ModelUrlNeedsSha256', {
      ruleCondition: Fn.conditionNot(Fn.conditionEquals(params.modelUrl.valueAsString, '')),
      assertions: [
        {
          assert: Fn.conditionNot(Fn.conditionEquals(params.modelSha256.valueAsString, '')),
          assertDescription: 'ModelSha256 (the SHA-256 of model.json) is required with ModelUrl',
        },
      ],
    });

    this.storage = new Storage(this, 'Storage', {
      inputRetentionDays: props.inputRetentionDays ?? 7,
      outputRetentionDays: props.outputRetentionDays ?? 30,
    });
    this.queues = new Queues(this, 'Queues', {
      name,
      launchMaxReceiveCount: props.launchMaxReceiveCount ?? 5,
      monitorMaxReceiveCount: 5,
    });
    this.results = new ResultsTopic(this, 'Results', { name });
    const { inputBucket, outputBucket, artifactBucket } = this.storage;
    const { launchQueue, monitorQueue, outputQueue } = this.queues;

    // Public subnets for the load balancer and the control hosts; isolated subnets (no route
    // out of the VPC, no NAT gateway to pay for) for the workers, which decode untrusted bytes
    // and so reach only the AWS endpoints they call: S3 through the free gateway endpoint
    // (every subnet's route table), the rest through interface endpoints (WorkerNetwork).
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'workers', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
    });
    const workerSubnet = vpc.isolatedSubnets[0];
    this.workerNetwork = new WorkerNetwork(this, 'WorkerNetwork', { vpc, subnet: workerSubnet });

    const common = {
      STACK_NAME: name,
      INPUT_BUCKET: inputBucket.bucketName,
      OUTPUT_BUCKET: outputBucket.bucketName,
      LAUNCH_QUEUE_URL: launchQueue.queueUrl,
      MONITOR_QUEUE_URL: monitorQueue.queueUrl,
      OUTPUT_QUEUE_URL: outputQueue.queueUrl,
      OUTPUT_TOPIC_ARN: this.results.topic.topicArn,
      IDLE_SECONDS: params.idleSeconds.valueAsString,
      IMAGE_DEADLINE_SECONDS: params.imageDeadlineSeconds.valueAsString,
      LOG_LEVEL: params.logLevel.valueAsString,
    };
    this.worker = new WorkerTemplate(this, 'Worker', {
      name,
      params,
      storage: this.storage,
      queues: this.queues,
      results: this.results,
      vpc,
      subnet: workerSubnet,
      shared: { ...common, AWS_REGION: Aws.REGION, ARTIFACT_BUCKET: artifactBucket.bucketName },
    });
    this.controlHost = new ControlHost(this, 'ControlHost', {
      name,
      params,
      storage: this.storage,
      queues: this.queues,
      results: this.results,
      worker: this.worker,
      vpc,
      shared: { ...common, MAX_WORKERS: params.maxWorkers.valueAsString },
    });
    this.edge = new Edge(this, 'Edge', {
      params,
      vpc,
      webHosts: this.controlHost.securityGroup,
      webPort: WEB_PORT,
      // CLASSIC_TIMEOUT_SECONDS (300) plus a margin: the classic upload holds its request until the result.
      idleTimeout: Duration.seconds(330),
    });
    this.controlHost.group.targetGroupArns = [this.edge.targetGroup.targetGroupArn];
    this.operations = new Operations(this, 'Operations', {
      name,
      params,
      queues: this.queues,
      results: this.results,
      loadBalancer: this.edge.loadBalancer,
      webTargets: this.edge.targetGroup,
      controlHosts: this.controlHost.group,
    });

    // ---- Outputs: what the runbook and `tools/packaging` deploy read.
    const out = (outputId: string, value: string, description: string) => new CfnOutput(this, outputId, { value, description });
    out('WebUrl', `https://${params.domainName.valueAsString}/`, 'The web tier (DomainName, through the load balancer)');
    out('LoadBalancerDnsName', this.edge.loadBalancer.loadBalancerDnsName, 'Point DomainName here (CNAME, or a Route 53 alias)');
    out('InputBucketName', inputBucket.bucketName, 'INPUT_BUCKET');
    out('OutputBucketName', outputBucket.bucketName, 'OUTPUT_BUCKET');
    out('ArtifactBucketName', artifactBucket.bucketName, 'Worker and control host artifacts, and the model');
    out('LaunchQueueUrl', launchQueue.queueUrl, 'LAUNCH_QUEUE_URL');
    out('LaunchDeadLetterQueueUrl', this.queues.launchDeadLetterQueue.queueUrl, 'Launch messages no worker could take');
    out('MonitorQueueUrl', monitorQueue.queueUrl, 'MONITOR_QUEUE_URL');
    out('MonitorDeadLetterQueueUrl', this.queues.monitorDeadLetterQueue.queueUrl, 'Deadline checks that kept failing');
    out('OutputQueueUrl', outputQueue.queueUrl, 'OUTPUT_QUEUE_URL');
    out('ResultsTopicArn', this.results.topic.topicArn, 'OUTPUT_TOPIC_ARN: every web tier hears every result on a queue of its own');
    out('WorkerLaunchTemplateId', this.worker.launchTemplate.ref, 'EC2_LAUNCH_TEMPLATE_ID');
    out('WorkerSubnetId', workerSubnet.subnetId, 'The isolated subnet workers run in (set in the launch template)');
    // Baking needs the internet (Node, npm): the builder runs in a public subnet with a public address.
    out('BuilderSubnetId', vpc.publicSubnets[0].subnetId, 'A public subnet for the AMI builder (docs/operations.md, "Bake the worker AMI")');
    out('WorkerSecurityGroupId', this.worker.securityGroup.securityGroupId, 'The workers\' security group (no inbound), for the AMI builder');
    out('WorkerInstanceProfileName', this.worker.instanceProfile.instanceProfileName, 'For the AMI builder instance');
    out('ControlHostGroupName', this.controlHost.group.ref, 'The control hosts\' Auto Scaling group (aws ssm send-command --targets Key=tag:aws:autoscaling:groupName,Values=<this>)');
    out('ConfigPath', `/${name}/config`, 'SSM Parameter Store path of the control apps\' configuration');
    out('ApiKeysSecretName', `${name}/api-keys`, 'Secrets Manager secret with the API keys (comma-separated)');
    out('AlertTopicArn', this.operations.topic.topicArn, 'SNS topic of the alarms');
    out('DashboardName', this.operations.dashboard.dashboardName, 'CloudWatch dashboard: queues, fleet size, results per minute, p95 latency');
  }
}
