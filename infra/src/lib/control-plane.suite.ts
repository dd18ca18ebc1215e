import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONTROL_APPS } from './constructs/control-host';
import { logicalIdOf, statementsOf, synthStack } from './synth-for-tests';
import { DEPLOY_DIR } from './user-data';

const { stack, template, json } = synthStack();
const id = (construct: object) => logicalIdOf(stack, construct);
const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a['Properties']);
const alarm = (name: string) => alarms.find((a) => a.AlarmName === name);
const topic = { Ref: id(stack.operations.topic) };

describe('control plane: no single host in the path', () => {
  const group = json.Resources[id(stack.controlHost.group)].Properties as Record<string, unknown>;

  it('runs the web tier and both controllers in an Auto Scaling group of ControlHostCount (at least 2) hosts', () => {
    expect(group).toMatchObject({ MinSize: { Ref: 'ControlHostCount' }, MaxSize: { Ref: 'ControlHostCount' }, DesiredCapacity: { Ref: 'ControlHostCount' } });
    expect(json.Parameters?.['ControlHostCount']).toMatchObject({ Type: 'Number', Default: 2, MinValue: 2 });
    // Every host runs all three apps: the user data writes each app's env file.
    expect(JSON.stringify((json.Resources[id(stack.controlHost.launchTemplate)].Properties as { LaunchTemplateData: { UserData: unknown } }).LaunchTemplateData.UserData)).toContain(
      'launch-controller',
    );
  });

  it('spreads the hosts over two availability zones behind the load balancer, replacing a dead host (not one whose AWS calls fail)', () => {
    const subnets = group['VPCZoneIdentifier'] as { Ref: string }[];
    expect(subnets).toHaveLength(2);
    const azs = subnets.map((s) => JSON.stringify(json.Resources[s.Ref].Properties?.['AvailabilityZone']));
    expect(new Set(azs).size).toBe(2);
    for (const s of subnets) expect(json.Resources[s.Ref].Properties?.['MapPublicIpOnLaunch']).toBe(true);
    expect(group).toMatchObject({ HealthCheckType: 'EC2', TargetGroupARNs: [{ Ref: id(stack.edge.targetGroup) }] });
  });

  it('tells the runbook which group to reach the hosts through', () => {
    const outputs = (json as unknown as { Outputs: Record<string, { Value: unknown }> }).Outputs;
    expect(outputs['ControlHostGroupName'].Value).toEqual({ Ref: id(stack.controlHost.group) });
    expect(outputs['ControlHostInstanceId']).toBeUndefined();
  });
});

describe('results reach every web tier', () => {
  const ssm = (name: string) => {
    const [rid] = Object.keys(template.findResources('AWS::SSM::Parameter', { Properties: { Name: name } }));
    return json.Resources[rid]?.Properties?.['Value'];
  };
  const statements = (role: object) => statementsOf(json, id(role));
  const topicRef = { Ref: id(stack.results.topic) };

  it('workers and the monitor controller publish each result to the results topic, which every app is told of', () => {
    template.hasResourceProperties('AWS::SNS::Topic', { TopicName: 'ics-results' });
    expect(ssm('/ics/config/shared/OUTPUT_TOPIC_ARN')).toEqual(topicRef);
    expect(statements(stack.worker.role)['PublishResults']).toMatchObject({ Action: 'sns:Publish', Resource: topicRef });
    expect(statements(stack.controlHost.services.roles['monitor-controller'])['PublishResults']).toMatchObject({ Action: 'sns:Publish', Resource: topicRef });
    const workerData = readFileSync(join(DEPLOY_DIR, 'user-data', 'worker.sh'), 'utf8');
    expect(workerData).toContain('OUTPUT_TOPIC_ARN=@@OUTPUT_TOPIC_ARN@@');
  });

  it('each web tier may create, subscribe and delete only queues named after the stack\'s web tier prefix', () => {
    expect(ssm('/ics/config/web-tier/WEB_TIER_QUEUE_PREFIX')).toBe('ics-web-tier-');
    const web = statements(stack.controlHost.services.roles['web-tier']);
    expect(web['OwnResultsQueue'].Action).toEqual(expect.arrayContaining(['sqs:CreateQueue', 'sqs:DeleteQueue', 'sqs:ReceiveMessage', 'sqs:SetQueueAttributes']));
    expect(web['OwnResultsQueue'].Resource).toEqual({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':sqs:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':ics-web-tier-*']],
    });
    expect(web['SubscribeToResults']).toMatchObject({ Action: ['sns:Subscribe', 'sns:Unsubscribe', 'sns:ListSubscriptionsByTopic'], Resource: topicRef });
    // No publishing: a web tier hears results, it never makes them.
    expect(JSON.stringify(web)).not.toContain('sns:Publish');
  });

  it('alarm when the topic fails to deliver to a tier\'s queue', () => {
    expect(alarm('ics-results-undelivered')).toMatchObject({ Namespace: 'AWS/SNS', MetricName: 'NumberOfNotificationsFailed', Threshold: 0, AlarmActions: [topic] });
  });
});

describe('systemd watchdog on every control app', () => {
  it.each(CONTROL_APPS)('%s: WatchdogSec, pings accepted from systemd-notify, restarted when it stops pinging', (app) => {
    const unit = readFileSync(join(DEPLOY_DIR, 'systemd', `${app}.service`), 'utf8');
    const watchdogSec = Number(/^WatchdogSec=(\d+)s$/m.exec(unit)?.[1]);
    // Above a consumer's stall bound (60 s without progress plus a 20 s long poll), so a slow poll is not a hang.
    expect(watchdogSec).toBeGreaterThanOrEqual(90);
    // The ping comes from a child process (systemd-notify), not the main one.
    expect(unit).toMatch(/^NotifyAccess=all$/m);
    expect(unit).toMatch(/^Restart=always$/m);
  });
});

describe('alarms on the control plane', () => {
  it('fire when the monitor queue\'s oldest check is QueueMaxAgeSeconds past its longest delay, for three minutes', () => {
    const a = alarm('ics-monitor-queue-stuck');
    expect(a).toMatchObject({ Threshold: { Ref: 'QueueMaxAgeSeconds' }, EvaluationPeriods: 3, ComparisonOperator: 'GreaterThanThreshold', AlarmActions: [topic] });
    const metrics = a?.Metrics as { Id: string; Expression?: string; MetricStat?: { Metric: { MetricName: string; Dimensions: unknown } } }[];
    expect(metrics.find((m) => m.Expression)?.Expression).toBe('age - 900');
    expect(metrics.find((m) => m.Id === 'age')?.MetricStat?.Metric).toMatchObject({
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [id(stack.queues.monitorQueue), 'QueueName'] } }],
    });
  });

  it('fire when the output queue\'s oldest result waits longer than QueueMaxAgeSeconds for three minutes', () => {
    expect(alarm('ics-output-queue-stuck')).toMatchObject({
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [id(stack.queues.outputQueue), 'QueueName'] } }],
      Threshold: { Ref: 'QueueMaxAgeSeconds' },
      EvaluationPeriods: 3,
      AlarmActions: [topic],
    });
    expect(json.Parameters?.['QueueMaxAgeSeconds']).toMatchObject({ Type: 'Number', Default: 300 });
  });

  it('fire on 5xx answers at the load balancer, its own and the web tiers\'', () => {
    const a = alarm('ics-alb-5xx');
    expect(a).toMatchObject({ Threshold: 10, ComparisonOperator: 'GreaterThanThreshold', AlarmActions: [topic] });
    const names = (a?.Metrics as { MetricStat?: { Metric: { MetricName: string; Namespace: string } } }[]).flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric] : []));
    expect(names.map((m) => `${m.Namespace}/${m.MetricName}`).sort()).toEqual(['AWS/ApplicationELB/HTTPCode_ELB_5XX_Count', 'AWS/ApplicationELB/HTTPCode_Target_5XX_Count']);
  });

  it('fire when a web tier is unhealthy for three minutes', () => {
    expect(alarm('ics-unhealthy-web-tiers')).toMatchObject({
      Namespace: 'AWS/ApplicationELB',
      MetricName: 'UnHealthyHostCount',
      Threshold: 0,
      EvaluationPeriods: 3,
      AlarmActions: [topic],
    });
  });
});

describe('dashboard', () => {
  const body = JSON.stringify(json.Resources[id(stack.operations.dashboard)].Properties?.['DashboardBody']);

  it('shows queue depths and ages, fleet size, results per minute and p95 latency', () => {
    for (const title of ['Queue depth (visible messages)', 'Oldest message age (s)', 'Fleet size', 'Results per minute', 'p95 latency (s)']) {
      expect(body).toContain(`\\"title\\":\\"${title}\\"`);
    }
    expect(body).toContain('ApproximateNumberOfMessagesVisible');
    expect(body).toContain('ApproximateAgeOfOldestMessage');
    expect(body).toContain('NumberOfMessagesSent');
    expect(body).toMatch(/TargetResponseTime.*\\"stat\\":\\"p95\\"/);
    expect(body).toContain('GroupInServiceInstances');
  });

  it('counts workers from the metric every worker\'s agent reports, in the namespace the worker may write', () => {
    expect(body).toMatch(/ICS\/ics\\",\\"mem_used_percent\\".*SampleCount/);
    const workerData = readFileSync(join(DEPLOY_DIR, 'user-data', 'worker.sh'), 'utf8');
    expect(workerData).toContain('"namespace": "ICS/@@STACK_NAME@@"');
    expect(workerData).toContain('"mem_used_percent"');
  });
});
