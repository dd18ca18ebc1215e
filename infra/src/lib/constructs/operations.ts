import { Duration } from 'aws-cdk-lib';
import * as budgets from 'aws-cdk-lib/aws-budgets';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { Parameters } from '../parameters';
import type { Queues } from './queues';

export interface OperationsProps {
  name: string;
  params: Parameters;
  queues: Queues;
}

/**
 * What an operator expects to be told: a dead letter (an image nobody could take, a
 * check that kept failing), a launch queue whose oldest image waits too long (no
 * workers are taking work), and spend past the monthly budget. All mail AlertEmail.
 */
export class Operations extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly budget: budgets.CfnBudget;

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

  private alarm(id: string, props: cloudwatch.AlarmProps): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, props);
    alarm.addAlarmAction(new actions.SnsAction(this.topic));
    alarm.addOkAction(new actions.SnsAction(this.topic));
    this.alarms.push(alarm);
    return alarm;
  }
}
