import { Duration } from 'aws-cdk-lib/core';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { keepLogicalId } from './storage';

export interface QueuesProps {
  /** The stack name: queue names are `<name>-launch`, ... */
  name: string;
  /** Receives of one launch message before it goes to the dead-letter queue. */
  launchMaxReceiveCount: number;
  /** Receives of one monitor message (a check that keeps failing) before it is dead-lettered. */
  monitorMaxReceiveCount: number;
}

/** The launch, monitor and output queues, the first two with a dead-letter queue. SSE-SQS, TLS only. */
export class Queues extends Construct {
  readonly launchQueue: sqs.Queue;
  readonly launchDeadLetterQueue: sqs.Queue;
  readonly monitorQueue: sqs.Queue;
  readonly monitorDeadLetterQueue: sqs.Queue;
  readonly outputQueue: sqs.Queue;
  /** Webhook deliveries: sent and consumed by the web tier; a failed one is sent again delayed, for 24 h. */
  readonly webhookQueue: sqs.Queue;
  readonly webhookDeadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: QueuesProps) {
    super(scope, id);
    const { name } = props;
    const queue = (queueId: string, logicalId: string | undefined, extra: sqs.QueueProps) => {
      const q = new sqs.Queue(this, queueId, { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true, ...extra });
      if (logicalId) keepLogicalId(q, logicalId);
      return q;
    };
    this.launchDeadLetterQueue = queue('LaunchDeadLetterQueue', 'LaunchDeadLetterQueueCA92F734', {
      queueName: `${name}-launch-dlq`,
      retentionPeriod: Duration.days(14),
    });
    this.launchQueue = queue('LaunchQueue', 'LaunchQueueDD859B28', {
      queueName: `${name}-launch`,
      // A worker deletes its launch message as soon as its monitor message is sent,
      // so a message that keeps coming back is one no worker can take: dead-letter it.
      visibilityTimeout: Duration.seconds(60),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.launchDeadLetterQueue, maxReceiveCount: props.launchMaxReceiveCount },
    });
    this.monitorDeadLetterQueue = queue('MonitorDeadLetterQueue', undefined, {
      queueName: `${name}-monitor-dlq`,
      retentionPeriod: Duration.days(14),
    });
    this.monitorQueue = queue('MonitorQueue', 'MonitorQueueF31BE3C7', {
      queueName: `${name}-monitor`,
      visibilityTimeout: Duration.seconds(60),
      retentionPeriod: Duration.days(4),
      // A check the monitor controller fails on again and again (a poison message, a
      // bug) stops circling and lands where an alarm sees it.
      deadLetterQueue: { queue: this.monitorDeadLetterQueue, maxReceiveCount: props.monitorMaxReceiveCount },
    });
    this.outputQueue = queue('OutputQueue', 'OutputQueue989B45D6', {
      queueName: `${name}-output`,
      visibilityTimeout: Duration.seconds(30),
      retentionPeriod: Duration.days(4),
    });
    this.webhookDeadLetterQueue = queue('WebhookDeadLetterQueue', undefined, {
      queueName: `${name}-webhook-dlq`,
      retentionPeriod: Duration.days(14),
    });
    this.webhookQueue = queue('WebhookQueue', undefined, {
      queueName: `${name}-webhook`,
      // Above the delivery's 10 s request bound and its S3 checks.
      visibilityTimeout: Duration.seconds(60),
      retentionPeriod: Duration.days(4),
      // A receiver's failure is retried by the web tier itself (a new, delayed message); what lands
      // here is a delivery the web tier could not even handle (S3 or SQS failing for 10 receives).
      deadLetterQueue: { queue: this.webhookDeadLetterQueue, maxReceiveCount: 10 },
    });
  }
}
