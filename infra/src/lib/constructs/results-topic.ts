import { Aws } from 'aws-cdk-lib/core';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

/** WEB_TIER_QUEUE_PREFIX: each web tier's own results queue is named this and a random id (libs/aws SubscribedQueue). */
export const webTierQueuePrefix = (stackName: string) => `${stackName}-web-tier-`;

/**
 * The results topic (OUTPUT_TOPIC_ARN): workers and the monitor controller
 * publish each result to it, and every web tier hears every result on a queue of
 * its own, subscribed with raw delivery, created at its start and removed at its
 * stop. With several control hosts, that is what lets any tier answer any
 * request at once, instead of one tier taking each result off a shared queue.
 */
export class ResultsTopic extends Construct {
  readonly topic: sns.Topic;
  /** The ARN pattern of the web tiers' own queues: the only queues a web tier may create or delete. */
  readonly webTierQueueArns: string;

  constructor(scope: Construct, id: string, props: { name: string }) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'Topic', { topicName: `${props.name}-results`, displayName: `${props.name} results`, enforceSSL: true });
    this.webTierQueueArns = `arn:${Aws.PARTITION}:sqs:${Aws.REGION}:${Aws.ACCOUNT_ID}:${webTierQueuePrefix(props.name)}*`;
  }
}
