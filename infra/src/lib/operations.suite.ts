import { CONTROL_APPS } from './constructs/control-host';
import { actionsOf, logicalIdOf, statementsOf, synthStack } from './synth-for-tests';
import { resolveValue } from './template-values';

const { stack, template, json } = synthStack();
const id = (construct: object) => logicalIdOf(stack, construct);
const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a['Properties']);
const alarm = (name: string) => alarms.find((a) => a.AlarmName === name);
const topic = { Ref: id(stack.operations.topic) };

describe('alarms', () => {
  it('fire on any message in either dead-letter queue, and mail the alert topic', () => {
    for (const [name, queue] of [
      ['ics-launch-dead-letters', stack.queues.launchDeadLetterQueue],
      ['ics-monitor-dead-letters', stack.queues.monitorDeadLetterQueue],
    ] as const) {
      expect(alarm(name)).toMatchObject({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [id(queue), 'QueueName'] } }],
        Statistic: 'Maximum',
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
        AlarmActions: [topic],
        OKActions: [topic],
      });
    }
  });

  it('fire when the oldest launch message waits longer than LaunchQueueMaxAgeSeconds for three minutes', () => {
    expect(alarm('ics-launch-queue-stuck')).toMatchObject({
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [id(stack.queues.launchQueue), 'QueueName'] } }],
      Threshold: { Ref: 'LaunchQueueMaxAgeSeconds' },
      EvaluationPeriods: 3,
      Period: 60,
      AlarmActions: [topic],
    });
    expect(json.Parameters?.['LaunchQueueMaxAgeSeconds']).toMatchObject({ Default: 600 });
  });

  it('reach AlertEmail by e-mail, over TLS only', () => {
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: { Ref: 'AlertEmail' }, TopicArn: topic });
    expect(alarms).toHaveLength(8);
  });
});

describe('budget', () => {
  it('is MonthlyBudgetUsd a month, mailing AlertEmail at 80 % actual and 100 % forecast', () => {
    template.hasResourceProperties('AWS::Budgets::Budget', {
      Budget: { BudgetType: 'COST', TimeUnit: 'MONTHLY', BudgetLimit: { Amount: { Ref: 'MonthlyBudgetUsd' }, Unit: 'USD' } },
      NotificationsWithSubscribers: [
        { Notification: { NotificationType: 'ACTUAL', Threshold: 80, ComparisonOperator: 'GREATER_THAN', ThresholdType: 'PERCENTAGE' }, Subscribers: [{ SubscriptionType: 'EMAIL', Address: { Ref: 'AlertEmail' } }] },
        { Notification: { NotificationType: 'FORECASTED', Threshold: 100, ComparisonOperator: 'GREATER_THAN', ThresholdType: 'PERCENTAGE' }, Subscribers: [{ SubscriptionType: 'EMAIL', Address: { Ref: 'AlertEmail' } }] },
      ],
    });
    expect(json.Parameters?.['MonthlyBudgetUsd']).toMatchObject({ Type: 'Number', Default: 50 });
  });
});

describe('logs', () => {
  const groups = template.findResources('AWS::Logs::LogGroup');

  it('are one group per app with the LogRetentionDays retention (30 days by default)', () => {
    expect(Object.values(groups).map((g) => g['Properties'].LogGroupName).sort()).toEqual(
      ['/ics/classifier-worker', '/ics/launch-controller', '/ics/monitor-controller', '/ics/web-tier'],
    );
    for (const g of Object.values(groups)) expect(g['Properties'].RetentionInDays).toEqual({ Ref: 'LogRetentionDays' });
    expect(json.Parameters?.['LogRetentionDays']).toMatchObject({ Default: 30 });
    expect((json.Parameters?.['LogRetentionDays'] as unknown as { AllowedValues: string[] }).AllowedValues).toContain('365');
  });

  it('are shipped by roles that may write only to their own groups', () => {
    const workerShip = statementsOf(json, id(stack.worker.role))['ShipWorkerLogs'];
    expect(actionsOf(workerShip)).toEqual(['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents']);
    expect(workerShip.Resource).toEqual({ 'Fn::GetAtt': [id(stack.worker.logGroup), 'Arn'] });
    const hostShip = statementsOf(json, id(stack.controlHost.instanceRole))['ShipAppLogs'];
    expect(hostShip.Resource).toEqual(CONTROL_APPS.map((a) => ({ 'Fn::GetAtt': [id(stack.controlHost.logGroups[a]), 'Arn'] })));
    // No role can create groups (or set their retention): the stack owns them.
    expect(JSON.stringify(json.Resources)).not.toMatch(/logs:(CreateLogGroup|PutRetentionPolicy|\*)/);
  });

  it('are collected from the files the units append to, into those groups', () => {
    const host = resolveValue(json, (json.Resources[id(stack.controlHost.launchTemplate)].Properties as { LaunchTemplateData: { UserData: unknown } }).LaunchTemplateData.UserData);
    for (const app of CONTROL_APPS) {
      expect(host).toContain(`{"file_path": "/var/log/ics/${app}.log", "log_group_name": "/ics/${app}", "log_stream_name": "{instance_id}"}`);
    }
  });
});
