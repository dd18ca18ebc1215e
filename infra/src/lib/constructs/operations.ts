import { Duration } from 'aws-cdk-lib/core';
import type * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as budgets from 'aws-cdk-lib/aws-budgets';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { Parameters } from '../parameters';
import type { Queues } from './queues';
import type { ResultsTopic } from './results-topic';
import { FLEET_METRIC, fleetNamespace } from './worker-template';

/** The longest delay a monitor message is sent with (SQS's limit): its age includes it. */
const MAX_MONITOR_DELAY_SECONDS = 900;
/** 5xx answers (load balancer and web tiers together) in 5 minutes that page someone. */
const ALB_5XX_PER_5_MINUTES = 10;

export interface OperationsProps {
  name: string;
  params: Parameters;
  queues: Queues;
  results: ResultsTopic;
  loadBalancer: elbv2.ApplicationLoadBalancer;
  /** The web tiers behind the load balancer. */
  webTargets: elbv2.ApplicationTargetGroup;
  controlHosts: autoscaling.CfnAutoScalingGroup;
}

/**
 * What an operator expects to be told: a dead letter (an image nobody could take, a
 * check that kept failing), a queue whose oldest message waits too long (no worker is
 * taking images; no monitor controller or web tier is consuming), 5xx answers at the
 * load balancer, an unhealthy web tier, and spend past the monthly budget. All mail
 * AlertEmail. And what they look at: one dashboard of queues, fleet, results and latency.
 */
export class Operations extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly budget: budgets.CfnBudget;
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: OperationsProps) {
    super(scope, id);
    const { name, params, queues } = props;
    this.topic = new sns.Topic(this, 'Alerts', { displayName: `${name} alerts`, enforceSSL: true });
    this.topic.addSubscription(new subscriptions.EmailSubscription(params.alertEmail.valueAsString));

    const deadLetters = (alarmId: string, queue: sqs.Queue, what: string) =>
      this.alarm(alarmId, {
        alarmName: `${name}-${alarmId}`,
        alarmDescription: `${what} (inspect with aws sqs receive-message; docs/operations.md)`,
        metric: queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    deadLetters('launch-dead-letters', queues.launchDeadLetterQueue, 'Launch messages no worker could take were dead-lettered');
    deadLetters('monitor-dead-letters', queues.monitorDeadLetterQueue, 'Deadline checks the monitor controller kept failing on were dead-lettered');
    this.alarm('launch-queue-stuck', {
      alarmName: `${name}-launch-queue-stuck`,
      alarmDescription: 'The oldest launch message has waited longer than LaunchQueueMaxAgeSeconds: no worker is taking images',
      metric: queues.launchQueue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: params.launchQueueMaxAgeSeconds.valueAsNumber,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const monitorAge = queues.monitorQueue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: 'Maximum' });
    this.alarm('monitor-queue-stuck', {
      alarmName: `${name}-monitor-queue-stuck`,
      alarmDescription: 'A deadline check has waited longer than QueueMaxAgeSeconds past its delay: no monitor controller is consuming',
      // A check is sent with a delay of up to 900 s and its age counts from the send.
      metric: new cloudwatch.MathExpression({
        expression: `age - ${MAX_MONITOR_DELAY_SECONDS}`,
        usingMetrics: { age: monitorAge },
        label: 'monitor queue: oldest check past its longest delay (s)',
        period: Duration.minutes(1),
      }),
      threshold: params.queueMaxAgeSeconds.valueAsNumber,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.alarm('output-queue-stuck', {
      alarmName: `${name}-output-queue-stuck`,
      alarmDescription: 'A result has waited longer than QueueMaxAgeSeconds on the output queue: no web tier is consuming',
      metric: queues.outputQueue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: params.queueMaxAgeSeconds.valueAsNumber,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.alarm('results-undelivered', {
      alarmName: `${name}-results-undelivered`,
      alarmDescription: 'The results topic failed to deliver to a web tier\'s queue (its queue gone, or its policy refusing the topic)',
      metric: props.results.topic.metricNumberOfNotificationsFailed({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const fiveMinutes = { period: Duration.minutes(5), statistic: 'Sum' };
    this.alarm('alb-5xx', {
      alarmName: `${name}-alb-5xx`,
      alarmDescription: `More than ${ALB_5XX_PER_5_MINUTES} 5xx answers in 5 minutes, from the load balancer (no healthy web tier) or the web tiers`,
      metric: new cloudwatch.MathExpression({
        expression: 'FILL(elb, 0) + FILL(target, 0)',
        usingMetrics: {
          elb: props.loadBalancer.metrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, fiveMinutes),
          target: props.loadBalancer.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, fiveMinutes),
        },
        label: '5xx answers',
        period: Duration.minutes(5),
      }),
      threshold: ALB_5XX_PER_5_MINUTES,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.alarm('unhealthy-web-tiers', {
      alarmName: `${name}-unhealthy-web-tiers`,
      alarmDescription: 'A web tier has failed the load balancer\'s health check for three minutes (its host is being replaced, or cannot be)',
      metric: props.webTargets.metrics.unhealthyHostCount({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      // The load balancer reports the count every minute; no data is no target group, not a sick tier.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.dashboard = this.buildDashboard(props);

    // Account-wide cost (a tag filter would need the ics:stack cost allocation tag activated first).
    const notify = (notificationType: 'ACTUAL' | 'FORECASTED', threshold: number) => ({
      notification: { notificationType, comparisonOperator: 'GREATER_THAN', threshold, thresholdType: 'PERCENTAGE' },
      subscribers: [{ subscriptionType: 'EMAIL', address: params.alertEmail.valueAsString }],
    });
    this.budget = new budgets.CfnBudget(this, 'MonthlyBudget', {
      budget: {
        budgetName: `${name}-monthly`,
        budgetType: 'COST',
        timeUnit: 'MONTHLY',
        budgetLimit: { amount: params.monthlyBudgetUsd.valueAsNumber, unit: 'USD' },
      },
      notificationsWithSubscribers: [notify('ACTUAL', 80), notify('FORECASTED', 100)],
    });
  }

  private buildDashboard(props: OperationsProps): cloudwatch.Dashboard {
    const { name, queues } = props;
    const minute = Duration.minutes(1);
    const named = [
      ['launch', queues.launchQueue],
      ['monitor', queues.monitorQueue],
      ['output', queues.outputQueue],
      ['launch DLQ', queues.launchDeadLetterQueue],
      ['monitor DLQ', queues.monitorDeadLetterQueue],
    ] as const;
    const graph = (title: string, left: cloudwatch.IMetric[], leftYAxis?: cloudwatch.YAxisProps) =>
      new cloudwatch.GraphWidget({ title, left, leftYAxis, width: 12, height: 6 });
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { dashboardName: `${name}-overview`, defaultInterval: Duration.hours(3) });
    dashboard.addWidgets(
      graph(
        'Queue depth (visible messages)',
        named.map(([label, q]) => q.metricApproximateNumberOfMessagesVisible({ period: minute, statistic: 'Maximum', label })),
        { min: 0 },
      ),
      graph(
        'Oldest message age (s)',
        named.slice(0, 3).map(([label, q]) => q.metricApproximateAgeOfOldestMessage({ period: minute, statistic: 'Maximum', label })),
        { min: 0 },
      ),
    );
    dashboard.addWidgets(
      graph(
        'Fleet size',
        [
          // Every worker's CloudWatch agent reports this once a minute (worker user data): its sample count is the workers alive.
          new cloudwatch.Metric({ namespace: fleetNamespace(name), metricName: FLEET_METRIC, period: minute, statistic: 'SampleCount', label: 'workers' }),
          new cloudwatch.Metric({
            namespace: 'AWS/AutoScaling',
            metricName: 'GroupInServiceInstances',
            dimensionsMap: { AutoScalingGroupName: props.controlHosts.ref },
            period: minute,
            statistic: 'Maximum',
            label: 'control hosts in service',
          }),
          props.webTargets.metrics.healthyHostCount({ period: minute, statistic: 'Minimum', label: 'healthy web tiers' }),
        ],
        { min: 0 },
      ),
      graph(
        'Results per minute',
        // Each result is announced once (a rare re-announcement counts twice): on the results
        // topic, or on the output queue when a deployment runs without it.
        [
          props.results.topic.metricNumberOfMessagesPublished({ period: minute, statistic: 'Sum', label: 'results' }),
          queues.outputQueue.metricNumberOfMessagesSent({ period: minute, statistic: 'Sum', label: 'results (output queue)' }),
        ],
        { min: 0 },
      ),
    );
    dashboard.addWidgets(
      graph(
        'p95 latency (s)',
        [
          // A classic request is held until its image's result, so this is upload-to-answer for them.
          props.loadBalancer.metrics.targetResponseTime({ period: minute, statistic: 'p95', label: 'p95 response time' }),
        ],
        { min: 0 },
      ),
      graph(
        '5xx answers',
        [
          props.loadBalancer.metrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, { period: minute, statistic: 'Sum', label: 'load balancer 5xx' }),
          props.loadBalancer.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { period: minute, statistic: 'Sum', label: 'web tier 5xx' }),
        ],
        { min: 0 },
      ),
    );
    return dashboard;
  }

  private alarm(id: string, props: cloudwatch.AlarmProps): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, props);
    alarm.addAlarmAction(new actions.SnsAction(this.topic));
    alarm.addOkAction(new actions.SnsAction(this.topic));
    this.alarms.push(alarm);
    return alarm;
  }
}
