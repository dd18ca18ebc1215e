import { App } from 'aws-cdk-lib/core';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { getMetadataStorage } from 'class-validator';
import { idempotencyKey } from '@app/contracts';
import { Environment, loadConfig, ScalingEnvironment, WebEnvironment, WorkerEnvironment } from '@app/config';
import { AwsClients } from '@app/aws';
import { createFleet, Ec2Fleet } from '@app/fleet';
import { envFilesOf } from '@tools/testing/files';
import { IcsStack } from './stack';
import { logicalIdOf, synthStack } from './synth-for-tests';
import { resolveValue } from './template-values';
import { placeholdersOf, renderTemplate } from './user-data';
import { CONTROL_APPS } from './constructs/control-host';

const { stack, template, json } = synthStack();
const id = (construct: object) => logicalIdOf(stack, construct);
const BASE_AMI = { BaseAmiId: 'ami-0123456789abcdef0' };

describe('buckets', () => {
  const buckets = () => template.findResources('AWS::S3::Bucket');

  it('are three, each private, encrypted, owner-enforced and with lifecycle rules', () => {
    expect(Object.keys(buckets())).toHaveLength(3);
    for (const [name, bucket] of Object.entries(buckets())) {
      const p = bucket['Properties'];
      expect({ name, block: p.PublicAccessBlockConfiguration }).toEqual({
        name,
        block: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      });
      expect(p.BucketEncryption.ServerSideEncryptionConfiguration).toEqual([{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }]);
      expect(p.OwnershipControls.Rules).toEqual([{ ObjectOwnership: 'BucketOwnerEnforced' }]);
      for (const rule of p.LifecycleConfiguration.Rules) {
        expect(rule).toMatchObject({ Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } });
      }
      expect(bucket['DeletionPolicy']).toBe('Delete');
    }
  });

  it('keep the logical ids they had before the stack was split into constructs (no replacement, no data loss)', () => {
    expect(Object.keys(buckets()).sort()).toEqual(['ArtifactBucket7410C9EF', 'InputBucket3BF8630A', 'OutputBucket7114EB27']);
    expect(Object.keys(template.findResources('AWS::SQS::Queue'))).toEqual(
      expect.arrayContaining(['LaunchDeadLetterQueueCA92F734', 'LaunchQueueDD859B28', 'MonitorQueueF31BE3C7', 'OutputQueue989B45D6']),
    );
    expect(json.Resources['WorkerLaunchTemplate'].Type).toBe('AWS::EC2::LaunchTemplate');
  });

  it('expire inputs after 7 days and results after 30; old artifact versions after 30', () => {
    const rules = (b: object) => (json.Resources[id(b)].Properties?.['LifecycleConfiguration'] as { Rules: unknown[] }).Rules;
    expect(rules(stack.storage.inputBucket)).toEqual([expect.objectContaining({ ExpirationInDays: 7 })]);
    expect(rules(stack.storage.outputBucket)).toEqual([
      expect.objectContaining({ Id: 'expire-results', ExpirationInDays: 30 }),
      // Idempotency-Key records answer a retry for at least 24 h, then go (S3 expires at midnight UTC after the age: 2 to 3 days).
      expect.objectContaining({ Id: 'expire-idempotency-records', Prefix: 'idempotency/', ExpirationInDays: 2 }),
    ]);
    expect(idempotencyKey('tenant', 'hash')).toMatch(/^idempotency\//);
    expect(rules(stack.storage.artifactBucket)).toEqual([expect.objectContaining({ NoncurrentVersionExpiration: { NoncurrentDays: 30 } })]);
  });

  it('refuse requests without TLS', () => {
    const policies = template.findResources('AWS::S3::BucketPolicy');
    expect(Object.keys(policies)).toHaveLength(3);
    for (const policy of Object.values(policies)) {
      expect(policy['Properties'].PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });

  it('have retention days that can be changed at synth time', () => {
    const t = Template.fromStack(new IcsStack(new App(), 'Other', { stackName: 'other', inputRetentionDays: 2, outputRetentionDays: 90 }));
    t.hasResourceProperties('AWS::S3::Bucket', { LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 2 })] } });
    t.hasResourceProperties('AWS::S3::Bucket', { LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Id: 'expire-results', ExpirationInDays: 90 })]) } });
  });
});

describe('queues', () => {
  it('are launch and monitor, each with a dead-letter queue, and output, all encrypted', () => {
    const queues = template.findResources('AWS::SQS::Queue');
    expect(Object.values(queues).map((q) => q['Properties'].QueueName).sort()).toEqual([
      'ics-launch',
      'ics-launch-dlq',
      'ics-monitor',
      'ics-monitor-dlq',
      'ics-output',
      'ics-webhook',
      'ics-webhook-dlq',
    ]);
    for (const q of Object.values(queues)) expect(q['Properties'].SqsManagedSseEnabled).toBe(true);
  });

  it('dead-letter a launch message and a monitor message after 5 receives', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: 'ics-launch',
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [id(stack.queues.launchDeadLetterQueue), 'Arn'] }, maxReceiveCount: 5 },
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: 'ics-monitor',
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [id(stack.queues.monitorDeadLetterQueue), 'Arn'] }, maxReceiveCount: 5 },
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: 'ics-webhook',
      VisibilityTimeout: 60,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [id(stack.queues.webhookDeadLetterQueue), 'Arn'] }, maxReceiveCount: 10 },
    });
    for (const name of ['ics-output', 'ics-launch-dlq', 'ics-monitor-dlq', 'ics-webhook-dlq']) {
      template.hasResourceProperties('AWS::SQS::Queue', { QueueName: name, RedrivePolicy: Match.absent() });
    }
  });

  it('refuse requests without TLS', () => {
    const policies = template.findResources('AWS::SQS::QueuePolicy');
    expect(Object.keys(policies)).toHaveLength(7);
    for (const policy of Object.values(policies)) {
      expect(policy['Properties'].PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });
});

describe('worker launch template', () => {
  const lt = json.Resources[id(stack.worker.launchTemplate)].Properties as { LaunchTemplateName: string; LaunchTemplateData: Record<string, unknown> };
  const data = lt.LaunchTemplateData;

  it('runs the baked AMI when given, else the pinned base AMI: never a lookup at deploy time', () => {
    expect(json.Parameters?.['WorkerAmiId']).toMatchObject({ Type: 'String', Default: '' });
    expect(resolveValue(json, data['ImageId'], { ...BASE_AMI, WorkerAmiId: 'ami-0fedcba9876543210' })).toBe('ami-0fedcba9876543210');
    expect(resolveValue(json, data['ImageId'], BASE_AMI)).toBe('ami-0123456789abcdef0');
    expect(resolveValue(json, data['InstanceType'], BASE_AMI)).toBe('t3.medium');
    expect(resolveValue(json, data['InstanceType'], { ...BASE_AMI, WorkerInstanceType: 'c7i.large' })).toBe('c7i.large');
  });

  it('WorkerArchitecture=arm64 (Graviton) runs Amazon Linux 2023 arm64 from its public SSM parameter and a Graviton type by default', () => {
    expect(json.Parameters?.['WorkerArchitecture']).toMatchObject({ Type: 'String', Default: 'x86_64', AllowedValues: ['x86_64', 'arm64'] });
    expect(json.Parameters?.['WorkerArm64BaseAmiId']).toMatchObject({ Type: 'String', Default: '' });
    expect((json.Parameters?.['WorkerArm64BaseAmiId'] as { Description?: string }).Description).toContain('/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64');
    // Without either AMI, arm64 workers are refused at deploy time rather than launched on an x86_64 image.
    const rules = (json as { Rules?: Record<string, { RuleCondition: unknown; Assertions: { AssertDescription: string }[] }> }).Rules ?? {};
    const rule = Object.values(rules).find((r) => r.Assertions[0].AssertDescription.startsWith('WorkerArchitecture=arm64 needs'));
    expect(rule?.RuleCondition).toEqual({
      'Fn::And': [{ 'Fn::Equals': [{ Ref: 'WorkerArchitecture' }, 'arm64'] }, { 'Fn::Equals': [{ Ref: 'WorkerAmiId' }, ''] }],
    });
    const arm = { ...BASE_AMI, WorkerArchitecture: 'arm64', WorkerArm64BaseAmiId: 'ami-0a4a4a4a4a4a4a4a4' };
    expect(resolveValue(json, data['ImageId'], arm)).toBe('ami-0a4a4a4a4a4a4a4a4');
    expect(resolveValue(json, data['InstanceType'], arm)).toBe('c7g.medium');
    expect(resolveValue(json, data['InstanceType'], { ...arm, WorkerInstanceType: 'c7g.large' })).toBe('c7g.large');
    // A baked AMI is the operator's choice, whatever the architecture (it must match it).
    expect(resolveValue(json, data['ImageId'], { ...arm, WorkerAmiId: 'ami-0fedcba9876543210' })).toBe('ami-0fedcba9876543210');
    // x86_64 keeps the pinned base AMI: an update never swaps it by itself.
    expect(resolveValue(json, data['ImageId'], { ...BASE_AMI, WorkerArm64BaseAmiId: 'ami-0a4a4a4a4a4a4a4a4' })).toBe('ami-0123456789abcdef0');
  });

  it('requires IMDSv2, terminates on shutdown, has an encrypted 16 GB root volume and a name with the stack\'s', () => {
    expect(lt.LaunchTemplateName).toBe('ics-worker');
    expect(data['MetadataOptions']).toEqual({ HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1 });
    expect(data['InstanceInitiatedShutdownBehavior']).toBe('terminate');
    expect(data['BlockDeviceMappings']).toEqual([
      { DeviceName: '/dev/xvda', Ebs: { VolumeSize: 16, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true } },
    ]);
  });

  it('runs as the worker instance profile, in an isolated subnet without a public address, in a security group with no inbound rule', () => {
    expect(data['IamInstanceProfile']).toEqual({ Arn: { 'Fn::GetAtt': [id(stack.worker.instanceProfile), 'Arn'] } });
    const subnets = template.findResources('AWS::EC2::Subnet');
    const [isolated] = Object.keys(subnets).filter((k) => subnets[k]['Properties'].MapPublicIpOnLaunch === false);
    expect(data['NetworkInterfaces']).toEqual([
      {
        DeviceIndex: 0,
        SubnetId: { Ref: isolated },
        Groups: [{ 'Fn::GetAtt': [id(stack.worker.securityGroup), 'GroupId'] }],
        AssociatePublicIpAddress: false,
        DeleteOnTermination: true,
      },
    ]);
    expect(json.Resources[id(stack.worker.securityGroup)].Properties?.['SecurityGroupIngress']).toBeUndefined();
  });
});

describe('user data and configuration', () => {
  const known = new Set(
    [Environment, WorkerEnvironment, WebEnvironment, ScalingEnvironment].flatMap((cls) =>
      getMetadataStorage().getTargetValidationMetadatas(cls, '', true, false).map((m) => m.propertyName),
    ),
  );
  // Read by libs/platform (CONFIG_SSM_PATH) and the AWS SDK itself, not by libs/config.
  const platformVariables = new Set(['CONFIG_SSM_PATH', 'AWS_PROFILE', 'AWS_CONFIG_FILE']);
  const lt = json.Resources[id(stack.worker.launchTemplate)].Properties as { LaunchTemplateData: { UserData: unknown } };
  const workerScript = (parameters: Record<string, string> = {}) => resolveValue(json, lt.LaunchTemplateData.UserData, { ...BASE_AMI, ...parameters });
  const hostScript = resolveValue(json, (json.Resources[id(stack.controlHost.launchTemplate)].Properties as { LaunchTemplateData: { UserData: unknown } }).LaunchTemplateData.UserData);
  /** The SSM parameters of the template, name -> value as deployed. */
  const ssmParameters = Object.fromEntries(
    Object.values(template.findResources('AWS::SSM::Parameter')).map((r) => [
      r['Properties'].Name as string,
      resolveValue(json, r['Properties'].Value, { DomainName: 'images.example.org' }),
    ]),
  );
  /** An app's configuration as libs/platform reads it: every path of CONFIG_SSM_PATH, the unit's env winning. */
  const appEnv = (app: string) => {
    const unitEnv = envFilesOf(hostScript)[`/etc/ics/${app}.env`];
    const env: Record<string, string> = {};
    for (const path of unitEnv['CONFIG_SSM_PATH'].split(',')) {
      for (const [name, value] of Object.entries(ssmParameters)) if (name.startsWith(`${path}/`)) env[name.slice(path.length + 1)] = value;
    }
    return { ...env, ...unitEnv };
  };

  it('lists the config variables it can check against', () => {
    expect(known.has('LAUNCH_QUEUE_URL')).toBe(true);
    expect(known.has('API_KEYS_SECRET_ID')).toBe(true);
  });

  it('of a worker sets only known variables, a configuration the worker accepts, and the artifact\'s model by default', () => {
    const files = envFilesOf(workerScript());
    expect(Object.keys(files).sort()).toEqual(['/etc/ics/classifier-worker.env', '/etc/ics/ics.env']);
    const env = { ...files['/etc/ics/ics.env'], ...files['/etc/ics/classifier-worker.env'] };
    expect(Object.keys(env).filter((k) => !known.has(k))).toEqual([]);
    const config = loadConfig(env);
    expect(config.worker.platform).toBe('ec2');
    expect(config.worker.modelUrl).toBeUndefined();
    expect(config.aws.region).toBe('eu-west-1');
    expect(config.aws.endpoints).toEqual({ s3: undefined, sqs: undefined, ec2: undefined });
    expect(config.scaling.stackName).toBe('ics');
    expect(placeholdersOf(workerScript())).toEqual([]);
    expect(workerScript()).toContain('"log_group_name": "/ics/classifier-worker"');
  });

  it('of a worker passes MODEL_URL with its MODEL_SHA256 when the parameters are set, and the template insists on both', () => {
    const sha = 'a'.repeat(64);
    const script = workerScript({ ModelUrl: 'https://models.example/m/model.json', ModelSha256: sha });
    const files = envFilesOf(script);
    expect(files['/etc/ics/classifier-worker.env']).toMatchObject({ MODEL_URL: 'https://models.example/m/model.json', MODEL_SHA256: sha });
    expect(json.Parameters?.['ModelUrl']).toMatchObject({ AllowedPattern: '^(https://[^\\s\']+)?$' });
    expect(new RegExp(String((json.Parameters?.['ModelUrl'] as unknown as { AllowedPattern: string }).AllowedPattern)).test('http://models.example/m/model.json')).toBe(false);
    expect((json as { Rules?: Record<string, unknown> }).Rules?.['ModelUrlNeedsSha256']).toMatchObject({
      Assertions: [{ AssertDescription: 'ModelSha256 (the SHA-256 of model.json) is required with ModelUrl' }],
    });
  });

  it('of the control host writes no configuration values: only where they are and which credentials to use', () => {
    const files = envFilesOf(hostScript);
    expect(Object.keys(files).sort()).toEqual(CONTROL_APPS.map((a) => `/etc/ics/${a}.env`).sort());
    for (const app of CONTROL_APPS) {
      expect(files[`/etc/ics/${app}.env`]).toEqual({
        AWS_REGION: 'eu-west-1',
        CONFIG_SSM_PATH: `/ics/config/shared,/ics/config/${app}`,
        AWS_PROFILE: app,
        AWS_CONFIG_FILE: '/etc/ics/aws-config',
      });
    }
    expect(placeholdersOf(hostScript)).toEqual([]);
  });

  it('in SSM gives each control app a configuration it accepts, with only known variables', () => {
    const ports = new Set<number>();
    for (const app of CONTROL_APPS) {
      const env = appEnv(app);
      expect(Object.keys(env).filter((k) => !known.has(k) && !platformVariables.has(k))).toEqual([]);
      const config = loadConfig(env);
      expect(config.scaling.provider).toBe('ec2');
      expect(config.fleet.maxWorkers).toBe(20);
      expect(config.queues.launch).toBe('https://sqs.eu-west-1.amazonaws.com/123456789012/ics-launch');
      ports.add(config.http.port);
    }
    expect([...ports].sort()).toEqual([3001, 3002, 8080]);
    const web = loadConfig(appEnv('web-tier'));
    expect(web.web.production).toBe(true);
    expect(web.web.apiKeysSecretId).toBe('ics/api-keys');
    expect(web.queues.webhook).toBe('https://sqs.eu-west-1.amazonaws.com/123456789012/ics-webhook');
    expect(web.web.publicUrl).toBe('https://images.example.org');
    // No image link outlives the role session credentials that sign it.
    expect(web.web.imageUrlTtlSeconds).toBe(300);
    for (const app of ['launch-controller', 'monitor-controller']) {
      const config = loadConfig(appEnv(app));
      expect(config.scaling.ec2.launchTemplateId).toBe('lt-0123456789abcdef0');
      const clients = new AwsClients(config);
      expect(createFleet(config, clients)).toBeInstanceOf(Ec2Fleet);
      clients.onApplicationShutdown();
    }
    expect(appEnv('monitor-controller')['LAUNCH_DEAD_LETTER_QUEUE_URL']).toBe('https://sqs.eu-west-1.amazonaws.com/123456789012/ics-launch-dlq');
    expect(appEnv('monitor-controller')['MONITOR_DEAD_LETTER_QUEUE_URL']).toBe('https://sqs.eu-west-1.amazonaws.com/123456789012/ics-monitor-dlq');
  });

  it('gives the launch controller WORKER_CAPACITY from the WorkerCapacity parameter (on-demand by default)', () => {
    expect(json.Parameters?.['WorkerCapacity']).toMatchObject({ Type: 'String', Default: 'on-demand', AllowedValues: ['on-demand', 'spot', 'spot-first'] });
    const [lcId] = Object.keys(template.findResources('AWS::SSM::Parameter', { Properties: { Name: '/ics/config/launch-controller/WORKER_CAPACITY' } }));
    const value = json.Resources[lcId].Properties?.['Value'];
    expect(resolveValue(json, value)).toBe('on-demand');
    expect(resolveValue(json, value, { WorkerCapacity: 'spot-first' })).toBe('spot-first');
    expect(loadConfig({ ...appEnv('launch-controller'), WORKER_CAPACITY: resolveValue(json, value, { WorkerCapacity: 'spot' }) }).scaling.ec2.capacity).toBe('spot');
    expect(loadConfig(appEnv('launch-controller')).scaling.ec2.capacity).toBe('on-demand');
  });

  it('puts MaxWorkers in SSM, where a restart of the launch controller picks it up', () => {
    expect(resolveValue(json, json.Resources[Object.keys(template.findResources('AWS::SSM::Parameter', { Properties: { Name: '/ics/config/shared/MAX_WORKERS' } }))[0]].Properties?.['Value'], { MaxWorkers: '7' })).toBe('7');
  });

  it('of the control host installs the apps from the artifact bucket and gives each app its own role\'s credentials', () => {
    expect(hostScript).toMatch(/bucket='ics-artifactbucket\w*'/);
    expect(hostScript).toContain('/usr/local/bin/ics-install --wait 60');
    for (const app of CONTROL_APPS) {
      expect(hostScript).toContain(`[profile ${app}]\ncredential_process = /bin/cat /run/ics/credentials/${app}.json\n`);
      expect(hostScript).toMatch(new RegExp(`^${app} controlhostservices\\w+-arn$`, 'm'));
    }
  });
});

describe('the stack as a whole', () => {
  it('needs no Lambda-backed custom resources (nothing to build or bundle)', () => {
    expect(Object.keys(template.findResources('AWS::Lambda::Function'))).toEqual([]);
    expect(Object.keys(json.Resources).filter((k) => json.Resources[k].Type.startsWith('Custom::'))).toEqual([]);
  });

  it('tags everything with its name, rejects a name STACK_NAME would reject, and names what must be unique after the stack', () => {
    template.hasResourceProperties('AWS::SQS::Queue', { Tags: [{ Key: 'ics:stack', Value: 'ics' }] });
    expect(() => synthStack('ics_prod')).toThrow(/must be a letter then up to 31 of \[A-Za-z0-9-\]/);
    expect(() => synthStack('1ics')).toThrow(/must be a letter/);
    const other = synthStack('ics-staging').template;
    other.hasResourceProperties('AWS::SQS::Queue', { QueueName: 'ics-staging-launch' });
    // Both launch templates: a second stack in the region must not collide with the first.
    const names = Object.values(other.findResources('AWS::EC2::LaunchTemplate')).map((r) => r['Properties'].LaunchTemplateName).sort();
    expect(names).toEqual(['ics-staging-control-host', 'ics-staging-worker']);
    other.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', { AutoScalingGroupName: 'ics-staging-control-hosts' });
    const roleNames = Object.values(other.findResources('AWS::IAM::Role')).map((r) => r['Properties'].RoleName).filter(Boolean).sort();
    expect(roleNames).toEqual(['ics-staging-launch-controller', 'ics-staging-monitor-controller', 'ics-staging-web-tier']);
  });

  it('is too big for an inline template but within CloudFormation\'s limit for one in the bootstrap bucket', () => {
    const size = JSON.stringify(json).length;
    expect(size).toBeGreaterThan(51_200); // hence `cdk bootstrap` in the runbook
    expect(size).toBeLessThan(1_000_000);
  });
});

describe('renderTemplate', () => {
  it('fills every placeholder', () => {
    expect(renderTemplate('a=@@A@@ b=@@B_2@@ a=@@A@@', { A: '1', B_2: 'two' })).toBe('a=1 b=two a=1');
  });
  it('refuses a placeholder without a value, and a value without a placeholder', () => {
    expect(() => renderTemplate('x=@@X@@ y=@@Y@@', { X: '1' }, 't.sh')).toThrow('t.sh: no value for @@Y@@');
    expect(() => renderTemplate('x=@@X@@', { X: '1', Z: '2' }, 't.sh')).toThrow('t.sh: no placeholder for Z');
  });
});

