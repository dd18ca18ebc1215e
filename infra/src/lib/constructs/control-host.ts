import { Aws, Fn } from 'aws-cdk-lib/core';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import type { Parameters } from '../parameters';
import { renderUserData } from '../user-data';
import type { Queues } from './queues';
import { webTierQueuePrefix, type ResultsTopic } from './results-topic';
import type { ControlApp } from '@app/contracts';
import { ServiceRoles } from './service-roles';
import { ARTIFACT_PREFIX, keepLogicalId, type Storage } from './storage';
import { appLogGroup, shipLogsStatement, type WorkerTemplate } from './worker-template';

export { CONTROL_APPS, type ControlApp } from '@app/contracts';
/** Where each app listens on the control host; only the web tier's port is reachable, and only from the load balancer. */
export const APP_PORTS: Record<ControlApp, number> = { 'web-tier': 8080, 'launch-controller': 3001, 'monitor-controller': 3002 };
export const WEB_PORT = APP_PORTS['web-tier'];

export interface ControlHostProps {
  name: string;
  params: Parameters;
  storage: Storage;
  queues: Queues;
  results: ResultsTopic;
  worker: WorkerTemplate;
  vpc: ec2.IVpc;
  /** The configuration every app shares, as SSM parameter values. */
  shared: Record<string, string>;
}

/**
 * The control hosts (each runs the web tier, the launch controller and the monitor
 * controller) and what they need to come back the same after any redeploy: their
 * configuration in SSM Parameter Store under /<stack>/config/{shared,<app>}/ and the API
 * keys in Secrets Manager, both read by the apps at each start; a pinned AMI; a launch
 * template named after the stack; an Auto Scaling group of ControlHostCount (at least 2)
 * hosts across two availability zones, so that no one machine is in the path: the load
 * balancer spreads the web tier over them, any number of monitor controllers is safe, and
 * the launch controllers share one lease (an S3 object) so exactly one launches.
 *
 * Credentials: the instance role can do nothing but assume one role per app (and what
 * the host's agents need). A root timer (ics-credentials) assumes each app's role and
 * leaves its temporary credentials in a file only that app's user can read; each unit
 * runs as its own user with AWS_PROFILE=<app> (a credential_process profile reading that
 * file) and with the instance metadata address blocked, so an app can never reach the
 * instance role, nor another app's credentials.
 */
export class ControlHost extends Construct {
  /** The hosts: web tier (a target of the load balancer's target group) and both controllers on each. */
  readonly group: autoscaling.CfnAutoScalingGroup;
  readonly instanceRole: iam.Role;
  readonly instanceProfile: iam.CfnInstanceProfile;
  readonly securityGroup: ec2.SecurityGroup;
  readonly launchTemplate: ec2.CfnLaunchTemplate;
  readonly apiKeys: secretsmanager.Secret;
  readonly services: ServiceRoles;
  readonly logGroups: Record<ControlApp, logs.CfnLogGroup>;
  readonly configParameters: ssm.StringParameter[] = [];
  /** SSM paths (without trailing slash) each app reads, in order. */
  readonly configPaths: Record<ControlApp, string[]>;

  constructor(scope: Construct, id: string, props: ControlHostProps) {
    super(scope, id);
    const { name, params, storage, queues, worker } = props;

    // API keys: one generated key of 48 letters and digits; operators add or rotate keys
    // with put-secret-value (comma-separated) and restart the web tier.
    this.apiKeys = new secretsmanager.Secret(this, 'ApiKeys', {
      secretName: `${name}/api-keys`,
      description: `${name}: API keys the web tier accepts in x-api-key (comma-separated)`,
      generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
    });

    const root = `/${name}/config`;
    this.configPaths = {
      'web-tier': [`${root}/shared`, `${root}/web-tier`],
      'launch-controller': [`${root}/shared`, `${root}/launch-controller`],
      'monitor-controller': [`${root}/shared`, `${root}/monitor-controller`],
    };
    const config: Record<'shared' | ControlApp, Record<string, string>> = {
      shared: { ...props.shared, FLEET_PROVIDER: 'ec2' },
      'web-tier': {
        PORT: String(APP_PORTS['web-tier']),
        NODE_ENV: 'production',
        API_KEYS_SECRET_ID: `${name}/api-keys`,
        WEBHOOK_QUEUE_URL: queues.webhookQueue.queueUrl,
        // The links in webhook deliveries: the address clients use, through the load balancer.
        PUBLIC_URL: `https://${params.domainName.valueAsString}`,
        LAUNCH_CONTROLLER_URL: `http://127.0.0.1:${APP_PORTS['launch-controller']}`,
        // A presigned URL dies with the credentials that signed it: the web tier's role
        // session has at least 5 minutes left whenever the SDK uses it (it refreshes earlier).
        IMAGE_URL_TTL_SECONDS: '300',
        // Each tier's own queue on the results topic: named after the stack, the only names its role may create.
        WEB_TIER_QUEUE_PREFIX: webTierQueuePrefix(name),
      },
      'launch-controller': {
        PORT: String(APP_PORTS['launch-controller']),
        EC2_LAUNCH_TEMPLATE_ID: worker.launchTemplate.ref,
        WORKER_CAPACITY: params.workerCapacity.valueAsString,
      },
      'monitor-controller': {
        PORT: String(APP_PORTS['monitor-controller']),
        EC2_LAUNCH_TEMPLATE_ID: worker.launchTemplate.ref,
        LAUNCH_DEAD_LETTER_QUEUE_URL: queues.launchDeadLetterQueue.queueUrl,
        MONITOR_DEAD_LETTER_QUEUE_URL: queues.monitorDeadLetterQueue.queueUrl,
      },
    };
    for (const [part, vars] of Object.entries(config)) {
      for (const [variable, value] of Object.entries(vars)) {
        this.configParameters.push(
          new ssm.StringParameter(this, `Config-${part}-${variable}`, {
            parameterName: `${root}/${part}/${variable}`,
            stringValue: value,
            description: `${variable} of ${part === 'shared' ? 'every control app' : part}; takes effect when the app restarts`,
          }),
        );
      }
    }

    this.logGroups = {
      'web-tier': appLogGroup(this, 'WebTierLogs', `/${name}/web-tier`, params),
      'launch-controller': appLogGroup(this, 'LaunchControllerLogs', `/${name}/launch-controller`, params),
      'monitor-controller': appLogGroup(this, 'MonitorControllerLogs', `/${name}/monitor-controller`, params),
    };

    // ---- The instance role: the host's own agents, the artifacts, and assuming the apps' roles.
    this.instanceRole = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: `${name}: control host (assumes the web tier's and the controllers' roles)`,
    });
    keepLogicalId(this.instanceRole, 'ControlHostRoleD5AE3414');
    this.services = new ServiceRoles(this, 'Services', {
      name,
      hostRole: this.instanceRole,
      storage,
      queues,
      results: props.results,
      worker,
      params,
      apiKeys: this.apiKeys,
      configPaths: this.configPaths,
    });
    const allow = (sid: string, s: Omit<iam.PolicyStatementProps, 'sid'>) => this.instanceRole.addToPolicy(new iam.PolicyStatement({ sid, ...s }));
    allow('AssumeAppRoles', { actions: ['sts:AssumeRole'], resources: Object.values(this.services.roles).map((r) => r.roleArn) });
    // ics-install (root) downloads the apps' tarballs.
    allow('ReadArtifacts', { actions: ['s3:GetObject'], resources: [storage.artifactBucket.arnForObjects(`${ARTIFACT_PREFIX}*`)] });
    this.instanceRole.addToPolicy(shipLogsStatement('ShipAppLogs', Object.values(this.logGroups)));
    // Session Manager and Run Command (no SSH): the agent's own calls, instead of
    // AmazonSSMManagedInstanceCore, which would also let the host read every parameter
    // in the account. These actions have no resource-level permissions.
    allow('SessionManagerAgent', {
      actions: [
        'ssm:UpdateInstanceInformation',
        'ssmmessages:CreateControlChannel',
        'ssmmessages:CreateDataChannel',
        'ssmmessages:OpenControlChannel',
        'ssmmessages:OpenDataChannel',
        'ec2messages:AcknowledgeMessage',
        'ec2messages:DeleteMessage',
        'ec2messages:FailMessage',
        'ec2messages:GetEndpoint',
        'ec2messages:GetMessages',
        'ec2messages:SendReply',
      ],
      resources: ['*'],
    });

    // ---- Network, launch template, instance.
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'control host: the web tier, from the load balancer only',
      allowAllOutbound: true,
    });
    keepLogicalId(this.securityGroup, 'ControlHostSecurityGroup99EA551A');
    const roles = this.services.roles;
    const userData = renderUserData('control-host.sh', {
      AWS_REGION: Aws.REGION,
      STACK_NAME: name,
      ARTIFACT_BUCKET: storage.artifactBucket.bucketName,
      WEB_TIER_ROLE_ARN: roles['web-tier'].roleArn,
      LAUNCH_CONTROLLER_ROLE_ARN: roles['launch-controller'].roleArn,
      MONITOR_CONTROLLER_ROLE_ARN: roles['monitor-controller'].roleArn,
      WEB_TIER_CONFIG_SSM_PATH: this.configPaths['web-tier'].join(','),
      LAUNCH_CONTROLLER_CONFIG_SSM_PATH: this.configPaths['launch-controller'].join(','),
      MONITOR_CONTROLLER_CONFIG_SSM_PATH: this.configPaths['monitor-controller'].join(','),
      WEB_TIER_LOG_GROUP: this.logGroups['web-tier'].ref,
      LAUNCH_CONTROLLER_LOG_GROUP: this.logGroups['launch-controller'].ref,
      MONITOR_CONTROLLER_LOG_GROUP: this.logGroups['monitor-controller'].ref,
    });
    this.instanceProfile = new iam.CfnInstanceProfile(this, 'InstanceProfile', { roles: [this.instanceRole.roleName] });
    // Everything a host is, in the launch template: the group launches every host alike, and
    // a changed bootstrap is a new template version that the rolling update rolls out.
    this.launchTemplate = new ec2.CfnLaunchTemplate(this, 'LaunchTemplate', {
      launchTemplateName: `${name}-control-host`,
      launchTemplateData: {
        imageId: params.baseAmiId.valueAsString,
        instanceType: params.controlHostInstanceType.valueAsString,
        iamInstanceProfile: { arn: this.instanceProfile.attrArn },
        securityGroupIds: [this.securityGroup.securityGroupId],
        metadataOptions: { httpTokens: 'required', httpEndpoint: 'enabled', httpPutResponseHopLimit: 1 },
        blockDeviceMappings: [{ deviceName: '/dev/xvda', ebs: { volumeSize: 16, volumeType: 'gp3', encrypted: true, deleteOnTermination: true } }],
        userData: Fn.base64(userData),
        tagSpecifications: [{ resourceType: 'instance', tags: [{ key: 'Name', value: `${name}-control-host` }] }],
      },
    });
    // Public subnets (the hosts reach SSM, Secrets Manager and the AWS APIs without a NAT
    // gateway); the security group admits only the load balancer. One subnet per AZ: the group
    // keeps its hosts balanced across both, so losing an AZ leaves the other's hosts serving.
    const count = params.controlHostCount.valueAsString;
    this.group = new autoscaling.CfnAutoScalingGroup(this, 'Group', {
      autoScalingGroupName: `${name}-control-hosts`,
      minSize: count,
      maxSize: count,
      desiredCapacity: count,
      vpcZoneIdentifier: props.vpc.publicSubnets.map((s) => s.subnetId),
      launchTemplate: { launchTemplateId: this.launchTemplate.ref, version: this.launchTemplate.attrLatestVersionNumber },
      // A dead host (EC2 status checks) is replaced. Not the load balancer's check: the web
      // tier's /health fails while S3 or SQS does, and replacing every host in an AWS brownout
      // would cut every held request. A hung app is restarted by its systemd watchdog, and the
      // load balancer routes around a tier that fails /health meanwhile.
      healthCheckType: 'EC2',
      healthCheckGracePeriod: 600,
      // For the dashboard's fleet panel: hosts in service.
      metricsCollection: [{ granularity: '1Minute', metrics: ['GroupInServiceInstances', 'GroupDesiredCapacity'] }],
      tags: [{ key: 'Name', value: `${name}-control-host`, propagateAtLaunch: true }],
    });
    // A new template version (user data, AMI, type) replaces hosts one at a time: the others
    // keep serving, and a standby launch controller takes the lease over from a replaced one.
    this.group.cfnOptions.updatePolicy = {
      autoScalingRollingUpdate: { maxBatchSize: 1, minInstancesInService: 1, pauseTime: 'PT10M', waitOnResourceSignals: false },
    };
  }
}
