import 'reflect-metadata';
import { App, CliCredentialsStackSynthesizer } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { getMetadataStorage } from 'class-validator';
import { Environment, loadConfig, ScalingEnvironment, WebEnvironment, WorkerEnvironment } from '@app/config';
import { AwsClients } from '@app/aws';
import { ROLE_TAG, STACK_TAG, WORKER_ROLE, WORKER_STATE_TAG } from '@app/contracts';
import { createFleet, Ec2Fleet } from '@app/fleet';
import { IcsStack } from './stack';
import { resolveValue, type Template as Cfn } from './template-values';
import { placeholdersOf, renderTemplate } from './user-data';
import { envFilesOf } from '@tools/testing';

function synth(stackName = 'ics') {
  const app = new App();
  const stack = new IcsStack(app, 'Ics', { stackName, synthesizer: new CliCredentialsStackSynthesizer() });
  return { stack, template: Template.fromStack(stack) };
}

const { stack, template } = synth();
const json = template.toJSON() as Cfn;
const id = (construct: { node: { defaultChild?: unknown } } | object): string =>
  stack.getLogicalId(((construct as { node: { defaultChild?: unknown } }).node.defaultChild ?? construct) as never);

type Statement = { Sid: string; Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };
/** The inline policy statements of a role, by Sid. */
function statementsOf(roleLogicalId: string): Record<string, Statement> {
  const policies = Object.values(json.Resources).filter(
    (r) =>
      r.Type === 'AWS::IAM::Policy' &&
      JSON.stringify(r.Properties?.['Roles']) === JSON.stringify([{ Ref: roleLogicalId }]),
  );
  expect(policies).toHaveLength(1);
  const doc = policies[0].Properties?.['PolicyDocument'] as { Statement: Statement[] };
  return Object.fromEntries(doc.Statement.map((s) => [s.Sid, s]));
}
const actions = (s: Statement) => [s.Action].flat().sort();

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
      expect(p.BucketEncryption.ServerSideEncryptionConfiguration).toEqual([
        { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } },
      ]);
      expect(p.OwnershipControls.Rules).toEqual([{ ObjectOwnership: 'BucketOwnerEnforced' }]);
      expect(p.LifecycleConfiguration.Rules.length).toBeGreaterThan(0);
      for (const rule of p.LifecycleConfiguration.Rules) {
        expect(rule).toMatchObject({ Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } });
      }
      expect(bucket['DeletionPolicy']).toBe('Delete');
    }
  });

  it('expire inputs after 7 days and results after 30; old artifact versions after 30', () => {
    const rules = (b: { node: unknown }) =>
      (json.Resources[id(b)].Properties?.['LifecycleConfiguration'] as { Rules: unknown[] }).Rules;
    expect(rules(stack.inputBucket)).toEqual([expect.objectContaining({ ExpirationInDays: 7 })]);
    expect(rules(stack.outputBucket)).toEqual([expect.objectContaining({ ExpirationInDays: 30 })]);
    expect(rules(stack.artifactBucket)).toEqual([expect.objectContaining({ NoncurrentVersionExpiration: { NoncurrentDays: 30 } })]);
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
    const app = new App();
    const s = new IcsStack(app, 'Other', { stackName: 'other', inputRetentionDays: 2, outputRetentionDays: 90 });
    const t = Template.fromStack(s);
    t.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 2 })] },
    });
    t.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 90 })] },
    });
  });
});

describe('queues', () => {
  it('are the launch queue with its dead-letter queue, the monitor queue and the output queue, all encrypted', () => {
    const queues = template.findResources('AWS::SQS::Queue');
    expect(Object.values(queues).map((q) => q['Properties'].QueueName).sort()).toEqual([
      'ics-launch',
      'ics-launch-dlq',
      'ics-monitor',
      'ics-output',
    ]);
    for (const q of Object.values(queues)) expect(q['Properties'].SqsManagedSseEnabled).toBe(true);
  });

  it('send a launch message to the dead-letter queue after 5 receives', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: 'ics-launch',
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [id(stack.launchDeadLetterQueue), 'Arn'] },
        maxReceiveCount: 5,
      },
    });
    for (const name of ['ics-monitor', 'ics-output', 'ics-launch-dlq']) {
      template.hasResourceProperties('AWS::SQS::Queue', { QueueName: name, RedrivePolicy: Match.absent() });
    }
  });

  it('refuse requests without TLS', () => {
    const policies = template.findResources('AWS::SQS::QueuePolicy');
    expect(Object.keys(policies)).toHaveLength(4);
    for (const policy of Object.values(policies)) {
      expect(policy['Properties'].PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });
});

describe('worker role', () => {
  const s = statementsOf(id(stack.workerRole));
  const arn = (q: { node: unknown }) => ({ 'Fn::GetAtt': [id(q), 'Arn'] });
  const objects = (b: { node: unknown }, prefix = '') => ({
    'Fn::Join': ['', [{ 'Fn::GetAtt': [id(b), 'Arn'] }, `/${prefix}*`]],
  });
  const isOurWorker = { [`aws:ResourceTag/${STACK_TAG}`]: 'ics', [`aws:ResourceTag/${ROLE_TAG}`]: WORKER_ROLE };

  it('has exactly these statements', () => {
    expect(Object.keys(s).sort()).toEqual(
      [
        'ListModel',
        'ReadArtifactsAndModel',
        'ReadInputImages',
        'SendMonitorAndOutputMessages',
        'TagOwnWorkerState',
        'TakeLaunchMessages',
        'TerminateWhenIdle',
        'WriteResults',
      ].sort(),
    );
    for (const st of Object.values(s)) expect(st.Effect).toBe('Allow');
  });

  it('reads the input bucket and writes the output bucket, nothing else there', () => {
    expect(s['ReadInputImages']).toMatchObject({ Action: 's3:GetObject', Resource: objects(stack.inputBucket) });
    expect(s['WriteResults']).toMatchObject({ Action: 's3:PutObject', Resource: objects(stack.outputBucket) });
  });

  it('receives and deletes launch messages and sends monitor and output messages', () => {
    expect(actions(s['TakeLaunchMessages'])).toEqual(['sqs:DeleteMessage', 'sqs:ReceiveMessage']);
    expect(s['TakeLaunchMessages'].Resource).toEqual(arn(stack.launchQueue));
    expect(s['SendMonitorAndOutputMessages']).toMatchObject({
      Action: 'sqs:SendMessage',
      Resource: [arn(stack.monitorQueue), arn(stack.outputQueue)],
    });
  });

  it('terminates and tags only instances tagged as workers of this stack, and only the state tag', () => {
    const instances = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ec2:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':instance/*']] };
    expect(s['TerminateWhenIdle']).toEqual({
      Sid: 'TerminateWhenIdle',
      Effect: 'Allow',
      Action: 'ec2:TerminateInstances',
      Resource: instances,
      Condition: { StringEquals: isOurWorker },
    });
    expect(s['TagOwnWorkerState']).toEqual({
      Sid: 'TagOwnWorkerState',
      Effect: 'Allow',
      Action: 'ec2:CreateTags',
      Resource: instances,
      Condition: { StringEquals: isOurWorker, 'ForAllValues:StringEquals': { 'aws:TagKeys': [WORKER_STATE_TAG] } },
    });
  });

  it('reads only the artifacts and the model from the artifact bucket', () => {
    expect(s['ReadArtifactsAndModel']).toMatchObject({
      Action: 's3:GetObject',
      Resource: [objects(stack.artifactBucket, 'artifacts/'), objects(stack.artifactBucket, 'models/current/')],
    });
    expect(s['ListModel']).toMatchObject({
      Action: 's3:ListBucket',
      Condition: { StringLike: { 's3:prefix': ['models/current/*'] } },
    });
  });

  it('has no wildcard action and no unbounded resource', () => {
    for (const st of Object.values(s)) {
      for (const a of [st.Action].flat()) expect(a).not.toMatch(/\*/);
      expect(JSON.stringify(st.Resource)).not.toBe('"*"');
    }
  });

  it('is the role of the worker instance profile, assumable by EC2 only', () => {
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'ec2.amazonaws.com' } })] },
    });
    template.hasResourceProperties('AWS::IAM::InstanceProfile', { Roles: [{ Ref: id(stack.workerRole) }] });
    expect(json.Resources[id(stack.workerRole)].Properties?.['ManagedPolicyArns']).toBeUndefined();
  });
});

describe('worker launch template', () => {
  const lt = json.Resources[id(stack.workerLaunchTemplate)].Properties as { LaunchTemplateName: string; LaunchTemplateData: Record<string, unknown> };
  const data = lt.LaunchTemplateData;

  it('takes the AMI from a parameter (stock Amazon Linux 2023 while it is empty)', () => {
    expect(json.Parameters?.['WorkerAmiId']).toMatchObject({ Type: 'String', Default: '' });
    expect(resolveValue(json, data['ImageId'], { WorkerAmiId: 'ami-0123456789abcdef0' })).toBe('ami-0123456789abcdef0');
    expect(resolveValue(json, data['ImageId'])).toBe('ami-0aaaaaaaaaaaaaaaa');
    expect(data['InstanceType']).toEqual({ Ref: 'WorkerInstanceType' });
    expect(json.Parameters?.['WorkerInstanceType']).toMatchObject({ Default: 't3.medium' });
  });

  it('requires IMDSv2 and terminates on shutdown', () => {
    expect(lt.LaunchTemplateName).toBe('ics-worker');
    expect(data['MetadataOptions']).toEqual({ HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1 });
    expect(data['InstanceInitiatedShutdownBehavior']).toBe('terminate');
  });

  it('runs as the worker instance profile, in a public subnet of the stack, in the worker security group', () => {
    const profile = Object.keys(template.findResources('AWS::IAM::InstanceProfile', { Properties: { Roles: [{ Ref: id(stack.workerRole) }] } }));
    expect(data['IamInstanceProfile']).toEqual({ Arn: { 'Fn::GetAtt': [profile[0], 'Arn'] } });
    const sg = template.findResources('AWS::EC2::SecurityGroup', { Properties: { GroupDescription: Match.stringLikeRegexp('classifier workers') } });
    const subnets = Object.keys(template.findResources('AWS::EC2::Subnet'));
    // In the template, not left to the launch request: the fleet passes only the template and tags.
    expect(data['NetworkInterfaces']).toEqual([
      {
        DeviceIndex: 0,
        SubnetId: { Ref: subnets[0] },
        Groups: [{ 'Fn::GetAtt': [Object.keys(sg)[0], 'GroupId'] }],
        AssociatePublicIpAddress: true,
        DeleteOnTermination: true,
      },
    ]);
    expect(data['SecurityGroupIds']).toBeUndefined();
    expect(sg[Object.keys(sg)[0]]['Properties'].SecurityGroupIngress).toBeUndefined();
  });

  it('has the worker user data, filled with this stack\'s queues and buckets', () => {
    const userData = resolveValue(json, data['UserData']);
    expect(placeholdersOf(userData)).toEqual([]);
    expect(userData).toMatch(/^#!\/bin\/bash\n/);
    expect(userData).toContain('LAUNCH_QUEUE_URL=https://sqs.eu-west-1.amazonaws.com/123456789012/ics-launch\n');
    expect(userData).toContain('MONITOR_QUEUE_URL=https://sqs.eu-west-1.amazonaws.com/123456789012/ics-monitor\n');
    expect(userData).toContain('OUTPUT_QUEUE_URL=https://sqs.eu-west-1.amazonaws.com/123456789012/ics-output\n');
    expect(userData).toContain(`INPUT_BUCKET=ics-${id(stack.inputBucket).toLowerCase()}\n`);
    expect(userData).toContain('WORKER_PLATFORM=ec2\n');
    expect(userData).toContain('systemctl enable --now classifier-worker.service');
  });
});

describe('control host', () => {
  const s = statementsOf(id(stack.controlHostRole));
  const lt = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ec2:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':launch-template/', { Ref: id(stack.workerLaunchTemplate) }]] };

  it('has exactly these statements', () => {
    expect(Object.keys(s).sort()).toEqual(
      [
        'ConsumeLaunchDeadLetters',
        'ConsumeMonitorAndOutputMessages',
        'InputImages',
        'LaunchFromWorkerTemplate',
        'LaunchIntoStackNetwork',
        'LaunchTaggedWorkerInstances',
        'ListBuckets',
        'ListWorkers',
        'PassWorkerRole',
        'ReadArtifacts',
        'Results',
        'SendLaunchMessages',
        'SendMonitorAndOutputMessages',
        'TagWorkersAtLaunch',
        'TerminateStackWorkers',
      ].sort(),
    );
    expect(json.Resources[id(stack.controlHostRole)].Properties?.['ManagedPolicyArns']).toEqual([
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/AmazonSSMManagedInstanceCore']] },
    ]);
  });

  it('launches workers only from the worker launch template, tagged as this stack\'s workers', () => {
    expect(s['LaunchFromWorkerTemplate']).toMatchObject({ Action: 'ec2:RunInstances', Resource: lt });
    expect(s['LaunchTaggedWorkerInstances']).toMatchObject({
      Action: 'ec2:RunInstances',
      Condition: {
        ArnLike: { 'ec2:LaunchTemplate': lt },
        StringEquals: { [`aws:RequestTag/${STACK_TAG}`]: 'ics', [`aws:RequestTag/${ROLE_TAG}`]: WORKER_ROLE },
      },
    });
    expect(JSON.stringify(s['LaunchTaggedWorkerInstances'].Resource)).toContain(':instance/*');
    const network = JSON.stringify(s['LaunchIntoStackNetwork'].Resource);
    expect(network).toContain(':security-group/');
    expect(network).toContain(':subnet/');
    expect(network).toContain('::image/');
    expect(s['TagWorkersAtLaunch']).toMatchObject({
      Action: 'ec2:CreateTags',
      Condition: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
    });
  });

  it('passes only the worker role, only to EC2', () => {
    expect(s['PassWorkerRole']).toEqual({
      Sid: 'PassWorkerRole',
      Effect: 'Allow',
      Action: 'iam:PassRole',
      Resource: { 'Fn::GetAtt': [id(stack.workerRole), 'Arn'] },
      Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
    });
  });

  it('terminates only this stack\'s workers', () => {
    expect(s['TerminateStackWorkers'].Condition).toEqual({
      StringEquals: { [`aws:ResourceTag/${STACK_TAG}`]: 'ics', [`aws:ResourceTag/${ROLE_TAG}`]: WORKER_ROLE },
    });
  });

  it('has what the web tier and the controllers call on S3 and SQS, bucket by bucket and queue by queue', () => {
    const objects = (b: { node: unknown }) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [id(b), 'Arn'] }, '/*']] });
    expect(actions(s['InputImages'])).toEqual(['s3:DeleteObject', 's3:GetObject', 's3:PutObject']);
    expect(s['InputImages'].Resource).toEqual(objects(stack.inputBucket));
    expect(actions(s['Results'])).toEqual(['s3:GetObject', 's3:PutObject']);
    expect(s['Results'].Resource).toEqual(objects(stack.outputBucket));
    expect(s['ListBuckets'].Resource).toEqual([{ 'Fn::GetAtt': [id(stack.inputBucket), 'Arn'] }, { 'Fn::GetAtt': [id(stack.outputBucket), 'Arn'] }]);
    expect(actions(s['SendLaunchMessages'])).toEqual(['sqs:GetQueueAttributes', 'sqs:SendMessage']);
    expect(actions(s['ConsumeLaunchDeadLetters'])).toEqual(['sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage']);
    expect(s['ConsumeLaunchDeadLetters'].Resource).toEqual({ 'Fn::GetAtt': [id(stack.launchDeadLetterQueue), 'Arn'] });
    expect(actions(s['ConsumeMonitorAndOutputMessages'])).toEqual([
      'sqs:ChangeMessageVisibility',
      'sqs:DeleteMessage',
      'sqs:GetQueueAttributes',
      'sqs:ReceiveMessage',
    ]);
    expect(s['SendMonitorAndOutputMessages']).toMatchObject({
      Action: 'sqs:SendMessage',
      Resource: [{ 'Fn::GetAtt': [id(stack.monitorQueue), 'Arn'] }, { 'Fn::GetAtt': [id(stack.outputQueue), 'Arn'] }],
    });
    // On the dead-letter queue only what the monitor controller needs to turn its messages into error results.
    const onDlq = Object.values(s).filter((x) => JSON.stringify(x.Resource).includes(id(stack.launchDeadLetterQueue)));
    expect(onDlq.map((x) => x.Sid)).toEqual(['ConsumeLaunchDeadLetters']);
  });

  it('has no wildcard action, and a "*" resource only for Describe calls', () => {
    for (const st of Object.values(s)) {
      for (const a of [st.Action].flat()) expect(a).not.toMatch(/\*/);
      if (JSON.stringify(st.Resource) === '"*"') expect(actions(st).every((a) => a.startsWith('ec2:Describe'))).toBe(true);
    }
  });

  it('runs with that role, IMDSv2 required, port 80 open only to the allowed range', () => {
    const instances = template.findResources('AWS::EC2::Instance');
    expect(Object.keys(instances)).toHaveLength(1);
    const profiles = template.findResources('AWS::IAM::InstanceProfile', { Properties: { Roles: [{ Ref: id(stack.controlHostRole) }] } });
    expect(Object.values(instances)[0]['Properties'].IamInstanceProfile).toEqual({ Ref: Object.keys(profiles)[0] });
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: { MetadataOptions: { HttpTokens: 'required' } },
      LaunchTemplateName: Match.stringLikeRegexp('ControlHost'),
    });
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('control host'),
      SecurityGroupIngress: [{ CidrIp: { Ref: 'WebAllowedCidr' }, FromPort: 80, ToPort: 80, IpProtocol: 'tcp', Description: 'web tier' }],
    });
  });
});

describe('user data', () => {
  const envFiles = envFilesOf;
  const known = new Set(
    [Environment, WorkerEnvironment, WebEnvironment, ScalingEnvironment].flatMap((cls) =>
      getMetadataStorage()
        .getTargetValidationMetadatas(cls, '', true, false)
        .map((m) => m.propertyName),
    ),
  );
  const lt = json.Resources[id(stack.workerLaunchTemplate)].Properties as { LaunchTemplateData: { UserData: unknown } };
  const workerScript = resolveValue(json, lt.LaunchTemplateData.UserData);
  const host = Object.values(template.findResources('AWS::EC2::Instance'))[0];
  const hostScript = resolveValue(json, host['Properties'].UserData);

  it('lists the config variables it can check against', () => {
    expect(known.has('LAUNCH_QUEUE_URL')).toBe(true);
    expect(known.has('EC2_LAUNCH_TEMPLATE_ID')).toBe(true);
    expect(known.has('MODEL_DIR')).toBe(true);
  });

  it('of a worker sets only known variables, and a configuration the worker accepts', () => {
    const files = envFiles(workerScript);
    expect(Object.keys(files).sort()).toEqual(['/etc/ics/classifier-worker.env', '/etc/ics/ics.env']);
    const env = { ...files['/etc/ics/ics.env'], ...files['/etc/ics/classifier-worker.env'] };
    expect(Object.keys(env).filter((k) => !known.has(k))).toEqual([]);
    const config = loadConfig(env);
    expect(config.worker.platform).toBe('ec2');
    expect(config.worker.modelDir).toBe('/opt/ics/model');
    expect(config.aws.region).toBe('eu-west-1');
    expect(config.aws.endpoints).toEqual({ s3: undefined, sqs: undefined, ec2: undefined });
    expect(config.scaling.stackName).toBe('ics');
  });

  it('of a worker uses MODEL_URL instead of the bundled model when the parameter is set', () => {
    const script = resolveValue(json, lt.LaunchTemplateData.UserData, { ModelUrl: 'https://models.example/m/model.json' });
    expect(script).toContain("model_url='https://models.example/m/model.json'");
    const files = envFiles(script);
    const config = loadConfig({ ...files['/etc/ics/ics.env'], ...files['/etc/ics/classifier-worker.env'] });
    expect(config.worker.modelUrl).toBe('https://models.example/m/model.json');
  });

  it('of the control host configures each app, the launch controller for this launch template', () => {
    const files = envFiles(hostScript);
    expect(Object.keys(files).sort()).toEqual([
      '/etc/ics/ics.env',
      '/etc/ics/launch-controller.env',
      '/etc/ics/monitor-controller.env',
      '/etc/ics/web-tier.env',
    ]);
    const ports = new Set<string>();
    for (const app of ['web-tier', 'launch-controller', 'monitor-controller']) {
      const env = { ...files['/etc/ics/ics.env'], ...files[`/etc/ics/${app}.env`] };
      expect(Object.keys(env).filter((k) => !known.has(k))).toEqual([]);
      const config = loadConfig(env);
      expect(config.scaling.provider).toBe('ec2');
      expect(config.fleet.maxWorkers).toBe(20);
      ports.add(String(config.http.port));
    }
    expect([...ports].sort()).toEqual(['3001', '3002', '80']);
    for (const app of ['launch-controller', 'monitor-controller']) {
      const config = loadConfig({ ...files['/etc/ics/ics.env'], ...files[`/etc/ics/${app}.env`] });
      expect(config.scaling.ec2.launchTemplateId).toBe('lt-0123456789abcdef0');
      // Both controllers build the EC2 fleet from it at start-up.
      const clients = new AwsClients(config);
      expect(createFleet(config, clients)).toBeInstanceOf(Ec2Fleet);
      clients.onApplicationShutdown();
    }
  });

  it('of the control host installs the apps from the artifact bucket', () => {
    expect(hostScript).toMatch(/bucket='ics-artifactbucket\w*'/);
    expect(hostScript).toContain('/usr/local/bin/ics-install --wait 60');
  });
});

describe('the stack as a whole', () => {
  it('needs no assets (no Lambda-backed custom resources), so it deploys without an asset bucket', () => {
    expect(Object.keys(template.findResources('AWS::Lambda::Function'))).toEqual([]);
    expect(Object.keys(json.Resources).filter((k) => json.Resources[k].Type.startsWith('Custom::'))).toEqual([]);
  });

  it('tags everything with its name and rejects a name STACK_NAME would reject', () => {
    template.hasResourceProperties('AWS::SQS::Queue', { Tags: [{ Key: STACK_TAG, Value: 'ics' }] });
    expect(() => synth('ics_prod')).toThrow(/must be a letter then up to 31 of \[A-Za-z0-9-\]/);
    expect(() => synth('1ics')).toThrow(/must be a letter/);
    expect(() => synth('a'.repeat(33))).toThrow(/must be a letter/);
    const other = synth('ics-staging').template;
    other.hasResourceProperties('AWS::SQS::Queue', { QueueName: 'ics-staging-launch' });
    other.hasResourceProperties('AWS::EC2::LaunchTemplate', { LaunchTemplateName: 'ics-staging-worker' });
  });

  it('has a template under the 51,200-byte limit for an inline CloudFormation template', () => {
    expect(JSON.stringify(json).length).toBeLessThan(51_200);
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
