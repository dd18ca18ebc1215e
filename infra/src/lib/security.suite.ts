import { Match } from 'aws-cdk-lib/assertions';
import { ROLE_TAG, STACK_TAG, WORKER_ROLE, WORKER_STATE_TAG } from '@app/contracts';
import { CONTROL_APPS, WEB_PORT } from './constructs/control-host';
import { actionsOf, logicalIdOf, statementsOf, synthStack, type Statement } from './synth-for-tests';
import { resolveValue } from './template-values';

const { stack, template, json } = synthStack();
const id = (construct: object) => logicalIdOf(stack, construct);
const getAtt = (construct: object, attr = 'Arn') => ({ 'Fn::GetAtt': [id(construct), attr] });
const objects = (bucket: object, prefix = '') => ({ 'Fn::Join': ['', [getAtt(bucket), `/${prefix}*`]] });
const ec2Arn = (resource: string) => ({
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ec2:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:${resource}`]],
});
const { storage, queues, worker, controlHost, edge } = stack;
const roles = controlHost.services.roles;
const s = {
  worker: statementsOf(json, id(worker.role)),
  host: statementsOf(json, id(controlHost.instanceRole)),
  'web-tier': statementsOf(json, id(roles['web-tier'])),
  'launch-controller': statementsOf(json, id(roles['launch-controller'])),
  'monitor-controller': statementsOf(json, id(roles['monitor-controller'])),
};
const all = (st: Record<string, Statement>) => Object.values(st);
const grants = (role: keyof typeof s, action: string) => all(s[role]).some((x) => actionsOf(x).includes(action));

describe('edge: an HTTPS load balancer is the only way in', () => {
  const listeners = template.findResources('AWS::ElasticLoadBalancingV2::Listener');
  const byPort = (port: number) => Object.values(listeners).find((l) => l['Properties'].Port === port)?.['Properties'];

  it('is internet-facing, drops invalid headers, and waits long enough for a classic upload', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internet-facing',
      LoadBalancerAttributes: Match.arrayWith([
        { Key: 'idle_timeout.timeout_seconds', Value: '330' },
        { Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' },
      ]),
    });
  });

  it('serves HTTPS on 443 with the ACM certificate parameter and a TLS 1.2+ policy, forwarding to the web tier', () => {
    expect(Object.keys(listeners)).toHaveLength(2);
    const https = byPort(443);
    expect(https).toMatchObject({
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: { Ref: 'CertificateArn' } }],
      SslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
      DefaultActions: [{ Type: 'forward', TargetGroupArn: { Ref: id(edge.targetGroup) } }],
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Port: WEB_PORT,
      Protocol: 'HTTP',
      HealthCheckPath: '/health',
      TargetType: 'instance',
    });
    // The control hosts' group registers every host it launches.
    expect(json.Resources[id(controlHost.group)].Properties?.['TargetGroupARNs']).toEqual([{ Ref: id(edge.targetGroup) }]);
    expect(json.Parameters?.['CertificateArn']).toMatchObject({ Type: 'String' });
    expect(json.Parameters?.['CertificateArn']).not.toHaveProperty('Default');
  });

  it('answers HTTP on 80 only with a permanent redirect to HTTPS', () => {
    expect(byPort(80)).toMatchObject({
      Protocol: 'HTTP',
      DefaultActions: [{ Type: 'redirect', RedirectConfig: { Protocol: 'HTTPS', Port: '443', StatusCode: 'HTTP_301' } }],
    });
  });

  it('publishes the web tier at https://<DomainName>/', () => {
    expect(resolveValue(json, (json as unknown as { Outputs: Record<string, { Value: unknown }> }).Outputs['WebUrl'].Value, { DomainName: 'images.example.org' })).toBe(
      'https://images.example.org/',
    );
  });
});

describe('network: nothing but the load balancer, on 443 and 80, is open to the world', () => {
  /** Every ingress rule in the template, inline or separate, as [group logical id, rule]. */
  const ingress = (): [string, Record<string, unknown>][] => [
    ...Object.entries(template.findResources('AWS::EC2::SecurityGroup')).flatMap(([gid, g]) =>
      ((g['Properties'].SecurityGroupIngress ?? []) as Record<string, unknown>[]).map((r) => [gid, r] as [string, Record<string, unknown>]),
    ),
    ...Object.values(template.findResources('AWS::EC2::SecurityGroupIngress')).map(
      (r) => [(r['Properties'].GroupId as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0], r['Properties']] as [string, Record<string, unknown>],
    ),
  ];

  it('admits the world (WebAllowedCidr, default 0.0.0.0/0) only at the load balancer, only on 443 and 80', () => {
    expect(json.Parameters?.['WebAllowedCidr']).toMatchObject({ Default: '0.0.0.0/0' });
    const vpcCidr = getAtt(stack.node.findChild('Vpc'), 'CidrBlock');
    const open = ingress().filter(([, r]) => ('CidrIp' in r || 'CidrIpv6' in r) && JSON.stringify(r['CidrIp']) !== JSON.stringify(vpcCidr));
    expect(open.map(([gid, r]) => [gid, r['CidrIp'], r['FromPort'], r['ToPort']]).sort()).toEqual([
      [id(edge.securityGroup), { Ref: 'WebAllowedCidr' }, 443, 443],
      [id(edge.securityGroup), { Ref: 'WebAllowedCidr' }, 80, 80],
    ]);
    // The rest by address: the workers' interface endpoints, HTTPS from inside the VPC only.
    const endpointGroups = Object.values(stack.workerNetwork.endpoints).map((e) => id(e.connections.securityGroups[0]));
    const byAddress = ingress().filter(([, r]) => JSON.stringify(r['CidrIp']) === JSON.stringify(vpcCidr));
    expect(byAddress.map(([gid, r]) => [gid, r['FromPort'], r['ToPort']]).sort()).toEqual(endpointGroups.map((g) => [g, 443, 443]).sort());
    // Every other ingress rule names a security group as its source.
    for (const [, r] of ingress().filter(([, r]) => !('CidrIp' in r || 'CidrIpv6' in r))) expect(r['SourceSecurityGroupId']).toBeDefined();
  });

  it('lets only the load balancer reach the control hosts, on the web tier\'s port; workers admit nothing', () => {
    const toHost = ingress().filter(([gid]) => gid === id(controlHost.securityGroup));
    expect(toHost.map(([, r]) => r)).toEqual([
      expect.objectContaining({ SourceSecurityGroupId: getAtt(edge.securityGroup, 'GroupId'), FromPort: WEB_PORT, ToPort: WEB_PORT, IpProtocol: 'tcp' }),
    ]);
    expect(ingress().filter(([gid]) => gid === id(worker.securityGroup))).toEqual([]);
  });
});

describe('worker role: its own instance only', () => {
  it('has exactly these statements, no wildcard action, no unbounded resource', () => {
    expect(Object.keys(s.worker).sort()).toEqual(
      [
        'HandBackLaunchMessages', 'Heartbeats', 'ListModel', 'ListResults', 'PublishFleetMetric', 'PublishResults', 'ReadArtifactsAndModel', 'ReadAttempts', 'ReadInputImages',
        'Results', 'SendMonitorAndOutputMessages', 'ShipWorkerLogs', 'TagOwnWorkerState', 'TakeLaunchMessages',
      ].sort(),
    );
    for (const st of all(s.worker)) {
      expect(st.Effect).toBe('Allow');
      for (const a of [st.Action].flat()) expect(a).not.toMatch(/\*/);
      // PutMetricData has no resources: its namespace condition bounds it instead.
      if (st.Sid !== 'PublishFleetMetric') expect(JSON.stringify(st.Resource)).not.toBe('"*"');
    }
    expect(s.worker['PublishFleetMetric']).toMatchObject({ Action: 'cloudwatch:PutMetricData', Condition: { StringEquals: { 'cloudwatch:namespace': 'ICS/ics' } } });
    expect(json.Resources[id(worker.role)].Properties?.['ManagedPolicyArns']).toBeUndefined();
  });

  it('tags only the instance the request comes from, and only with the state tag', () => {
    expect(s.worker['TagOwnWorkerState']).toEqual({
      Sid: 'TagOwnWorkerState',
      Effect: 'Allow',
      Action: 'ec2:CreateTags',
      Resource: ec2Arn('instance/*'),
      Condition: {
        StringEquals: { 'aws:ARN': '${ec2:SourceInstanceARN}' },
        'ForAllValues:StringEquals': { 'aws:TagKeys': [WORKER_STATE_TAG] },
      },
    });
  });

  it('cannot terminate anything: its own shutdown terminates its instance', () => {
    expect(grants('worker', 'ec2:TerminateInstances')).toBe(false);
    expect(JSON.stringify(json.Resources[id(worker.launchTemplate)])).toContain('"InstanceInitiatedShutdownBehavior":"terminate"');
  });

  it('reads inputs, writes results, takes launch messages, sends monitor and output messages', () => {
    expect(s.worker['ReadInputImages']).toMatchObject({ Action: 's3:GetObject', Resource: objects(storage.inputBucket) });
    // Reads too: a refused conditional put reads the result that won.
    expect(actionsOf(s.worker['Results'])).toEqual(['s3:GetObject', 's3:PutObject']);
    expect(s.worker['Results'].Resource).toEqual(objects(storage.outputBucket, 'results/'));
    expect(s.worker['ListResults']).toMatchObject({ Action: 's3:ListBucket', Resource: getAtt(storage.outputBucket) });
    expect(all(s.worker).some((x) => actionsOf(x).includes('s3:DeleteObject'))).toBe(false);
    expect(actionsOf(s.worker['TakeLaunchMessages'])).toEqual(['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:ReceiveMessage']);
    expect(s.worker['TakeLaunchMessages'].Resource).toEqual(getAtt(queues.launchQueue));
    expect(s.worker['SendMonitorAndOutputMessages'].Resource).toEqual([getAtt(queues.monitorQueue), getAtt(queues.outputQueue)]);
    expect(s.worker['HandBackLaunchMessages']).toMatchObject({ Action: 'sqs:SendMessage', Resource: getAtt(queues.launchQueue) });
    expect(s.worker['ReadArtifactsAndModel'].Resource).toEqual([objects(storage.artifactBucket, 'artifacts/'), objects(storage.artifactBucket, 'models/current/')]);
  });
});

describe('control host: one role per app, the instance role only assumes them', () => {
  it('has an instance role with no managed policy, that can assume exactly the three app roles', () => {
    expect(json.Resources[id(controlHost.instanceRole)].Properties?.['ManagedPolicyArns']).toBeUndefined();
    expect(Object.keys(s.host).sort()).toEqual(['AssumeAppRoles', 'ReadArtifacts', 'SessionManagerAgent', 'ShipAppLogs']);
    expect(s.host['AssumeAppRoles']).toMatchObject({ Action: 'sts:AssumeRole', Resource: CONTROL_APPS.map((a) => getAtt(roles[a])) });
    // Nothing the apps do: no S3 data, no SQS, no EC2, no SSM parameters or secrets.
    for (const st of all(s.host)) {
      for (const a of actionsOf(st)) expect(a).not.toMatch(/^(sqs|ec2|secretsmanager|iam):|^ssm:Get|^s3:(Put|Delete)/);
    }
    expect(s.host['SessionManagerAgent'].Resource).toBe('*');
    expect(actionsOf(s.host['SessionManagerAgent']).every((a) => /^(ssm:UpdateInstanceInformation|ssmmessages:|ec2messages:)/.test(a))).toBe(true);
  });

  it('lets only the instance role assume each app role', () => {
    for (const app of CONTROL_APPS) {
      expect(json.Resources[id(roles[app])].Properties?.['AssumeRolePolicyDocument']).toEqual({
        Version: '2012-10-17',
        Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { AWS: getAtt(controlHost.instanceRole) } }],
      });
      expect(json.Resources[id(roles[app])].Properties?.['ManagedPolicyArns']).toBeUndefined();
    }
  });

  it('web tier: uploads, results, the launch and output queues, its API keys; never EC2 or IAM', () => {
    const web = s['web-tier'];
    expect(Object.keys(web).sort()).toEqual(
      [
        'BatchIndexAndIdempotency', 'ConsumeOutputMessages', 'DeleteBatchResults', 'InputImages', 'ListBuckets', 'OwnResultsQueue', 'ReadApiKeys', 'ReadApiKeysSecret', 'SubscribeToResults',
        'ReadMonitorQueueDepth', 'ReadOwnConfig', 'ReadResults', 'SendLaunchMessages', 'WebhookDeliveries', 'WebhookRecords',
      ].sort(),
    );
    expect(actionsOf(web['InputImages'])).toEqual(['s3:DeleteObject', 's3:GetObject', 's3:PutObject']);
    expect(web['InputImages'].Resource).toEqual(objects(storage.inputBucket));
    expect(web['ReadResults']).toMatchObject({ Action: 's3:GetObject', Resource: objects(storage.outputBucket) });
    expect(web['SendLaunchMessages'].Resource).toEqual(getAtt(queues.launchQueue));
    expect(web['ConsumeOutputMessages'].Resource).toEqual(getAtt(queues.outputQueue));
    expect(web['ReadApiKeysSecret']).toMatchObject({ Action: 'secretsmanager:GetSecretValue', Resource: { Ref: id(controlHost.apiKeys) } });
    expect(JSON.stringify(web['ReadApiKeys'].Resource)).toContain(':parameter/aws/reference/secretsmanager/ics/api-keys');
    expect(web['ReadMonitorQueueDepth']).toMatchObject({ Action: 'sqs:GetQueueAttributes', Resource: getAtt(queues.monitorQueue) });
    expect(actionsOf(web['WebhookDeliveries'])).toEqual(['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:ReceiveMessage', 'sqs:SendMessage']);
    expect(actionsOf(web['ConsumeOutputMessages'])).toEqual(['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage']);
    expect(web['WebhookDeliveries'].Resource).toEqual(getAtt(queues.webhookQueue));
    expect(actionsOf(web['WebhookRecords'])).toEqual(['s3:DeleteObject', 's3:PutObject']);
    expect(web['WebhookRecords'].Resource).toEqual(objects(storage.outputBucket, 'webhooks/'));
    for (const a of ['ec2:RunInstances', 'ec2:TerminateInstances', 'ec2:CreateTags', 'ec2:DescribeInstances', 'iam:PassRole', 's3:ListAllMyBuckets']) {
      expect(grants('web-tier', a)).toBe(false);
    }
  });

  it('launch controller: RunInstances only from the worker template, only its instance type and volume size, tagged as this stack\'s workers', () => {
    const lc = s['launch-controller'];
    const templateArn = {
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ec2:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':launch-template/', { Ref: 'WorkerLaunchTemplate' }]],
    };
    const fromTemplate = { ArnLike: { 'ec2:LaunchTemplate': templateArn }, Bool: { 'ec2:IsLaunchTemplateResource': 'true' } };
    expect(lc['LaunchFromWorkerTemplate']).toMatchObject({ Action: 'ec2:RunInstances', Resource: templateArn });
    expect(lc['LaunchWorkerInstances']).toMatchObject({
      Action: 'ec2:RunInstances',
      Resource: ec2Arn('instance/*'),
      Condition: {
        ...fromTemplate,
        StringEquals: {
          // The launch template's own type (WorkerInstanceType, or WorkerArchitecture's default).
          'ec2:InstanceType': (json.Resources[id(worker.launchTemplate)].Properties as { LaunchTemplateData: { InstanceType: unknown } }).LaunchTemplateData.InstanceType,
          [`aws:RequestTag/${STACK_TAG}`]: 'ics',
          [`aws:RequestTag/${ROLE_TAG}`]: WORKER_ROLE,
        },
      },
    });
    expect(lc['LaunchWorkerVolumes']).toMatchObject({
      Resource: ec2Arn('volume/*'),
      Condition: { ...fromTemplate, NumericLessThanEquals: { 'ec2:VolumeSize': 16 } },
    });
    expect(lc['LaunchIntoWorkerNetwork'].Condition).toEqual(fromTemplate);
    // Every RunInstances statement but the template's own is conditioned on the template.
    for (const st of all(lc).filter((x) => actionsOf(x).includes('ec2:RunInstances') && x.Sid !== 'LaunchFromWorkerTemplate')) {
      expect(st.Condition?.['ArnLike']).toEqual({ 'ec2:LaunchTemplate': templateArn });
    }
    expect(lc['PassWorkerRole']).toMatchObject({ Resource: getAtt(worker.role), Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } } });
    expect(lc['TagWorkersAtLaunch'].Condition).toEqual({ StringEquals: { 'ec2:CreateAction': 'RunInstances' } });
    expect(grants('launch-controller', 'ec2:TerminateInstances')).toBe(false);
    // In S3 only the launch lease, under control/.
    expect(all(lc).filter((x) => JSON.stringify(x).includes('s3:')).map((x) => x.Sid).sort()).toEqual(['LaunchLease', 'ListLease']);
    expect(lc['LaunchLease'].Resource).toEqual(objects(storage.outputBucket, 'control/'));
  });

  it('monitor controller: terminates only this stack\'s workers, re-queues, writes results, drains both dead-letter queues; never launches', () => {
    const mc = s['monitor-controller'];
    expect(mc['TerminateStackWorkers']).toMatchObject({
      Action: 'ec2:TerminateInstances',
      Condition: { StringEquals: { [`aws:ResourceTag/${STACK_TAG}`]: 'ics', [`aws:ResourceTag/${ROLE_TAG}`]: WORKER_ROLE } },
    });
    expect(mc['ConsumeDeadLetters'].Resource).toEqual([getAtt(queues.launchDeadLetterQueue), getAtt(queues.monitorDeadLetterQueue)]);
    expect(mc['RequeueImages']).toMatchObject({ Action: 'sqs:SendMessage', Resource: getAtt(queues.launchQueue) });
    expect(actionsOf(mc['Results'])).toEqual(['s3:GetObject', 's3:PutObject']);
    for (const a of ['ec2:RunInstances', 'iam:PassRole', 'ec2:CreateTags', 's3:DeleteObject']) expect(grants('monitor-controller', a)).toBe(false);
  });

  it('each app reads only its own configuration paths in SSM', () => {
    for (const app of CONTROL_APPS) {
      const resources = JSON.stringify(s[app]['ReadOwnConfig'].Resource);
      expect(resources).toContain(':parameter/ics/config/shared');
      expect(resources).toContain(`:parameter/ics/config/${app}`);
      for (const other of CONTROL_APPS.filter((o) => o !== app)) expect(resources).not.toContain(`/config/${other}`);
    }
  });

  it('no role anywhere has a wildcard action, and "*" resources only for Describe and the agent', () => {
    for (const [role, st] of Object.entries(s)) {
      for (const x of all(st)) {
        for (const a of actionsOf(x)) expect({ role, a }).toEqual({ role, a: expect.not.stringMatching(/\*/) });
        if (JSON.stringify(x.Resource) === '"*"') expect([role, x.Sid]).toEqual([role, expect.stringMatching(/^(ListWorkers|SessionManagerAgent|PublishFleetMetric)$/)]);
      }
    }
    expect(actionsOf(s['launch-controller']['ListWorkers'])).toEqual(['ec2:DescribeInstances']);
  });
});

describe('control hosts: pinned, and nothing secret in their user data', () => {
  const host = (json.Resources[id(controlHost.launchTemplate)].Properties as { LaunchTemplateData: Record<string, unknown> }).LaunchTemplateData;

  it('run the BaseAmiId parameter: no AMI lookup in the template, so a deploy never swaps the hosts by itself', () => {
    expect(host['ImageId']).toEqual({ Ref: 'BaseAmiId' });
    expect(host['InstanceType']).toEqual({ Ref: 'ControlHostInstanceType' });
    expect(json.Parameters?.['BaseAmiId']).toEqual(expect.objectContaining({ Type: 'AWS::EC2::Image::Id' }));
    expect(json.Parameters?.['BaseAmiId']).not.toHaveProperty('Default');
    expect(Object.values(json.Parameters ?? {}).filter((p) => p.Type.startsWith('AWS::SSM::Parameter::Value'))).toEqual([]);
  });

  it('have a launch template named after the stack, requiring IMDSv2 with one hop, with the instance role and the hosts\' group', () => {
    expect(json.Resources[id(controlHost.group)].Properties?.['LaunchTemplate']).toEqual({
      LaunchTemplateId: { Ref: id(controlHost.launchTemplate) },
      Version: getAtt(controlHost.launchTemplate, 'LatestVersionNumber'),
    });
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateName: 'ics-control-host',
      LaunchTemplateData: { MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1 } },
    });
    expect(host['IamInstanceProfile']).toEqual({ Arn: getAtt(controlHost.instanceProfile) });
    expect(json.Resources[id(controlHost.instanceProfile)].Properties?.['Roles']).toEqual([{ Ref: id(controlHost.instanceRole) }]);
    expect(host['SecurityGroupIds']).toEqual([getAtt(controlHost.securityGroup, 'GroupId')]);
  });

  it('keep the API keys in a generated Secrets Manager secret that no user data or parameter holds', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'ics/api-keys',
      GenerateSecretString: { PasswordLength: 48, ExcludePunctuation: true, IncludeSpace: false },
    });
    const userData = [host['UserData'], (json.Resources[id(worker.launchTemplate)].Properties as { LaunchTemplateData: { UserData: unknown } }).LaunchTemplateData.UserData];
    for (const ud of userData) {
      const text = JSON.stringify(ud);
      expect(text).not.toContain(id(controlHost.apiKeys));
      expect(text).not.toMatch(/API_KEYS|SECRET_ACCESS_KEY|SecretString|aws_secret/i);
    }
    for (const r of Object.values(template.findResources('AWS::SSM::Parameter'))) {
      expect(JSON.stringify(r['Properties'].Value)).not.toContain(id(controlHost.apiKeys));
    }
  });

  it('are replaced one at a time, not just restarted, when their bootstrap changes (user data runs only on a first boot)', () => {
    // A changed user data is a new template version; the group follows the latest version and rolls it out.
    expect(json.Resources[id(controlHost.group)]).toMatchObject({
      UpdatePolicy: { AutoScalingRollingUpdate: { MaxBatchSize: 1, MinInstancesInService: 1 } },
    });
  });
});
