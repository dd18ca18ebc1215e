import { Injectable } from '@nestjs/common';
import { AppConfig } from '@app/config';
import { AwsClients } from './clients';
import { ObjectStore } from './object-store';
import { Queue } from './queue';
import { SubscribedQueue } from './subscribed-queue';
import { Topic, type MessageSink } from './topic';

/** The project's buckets and queues, each as an adapter, from the configuration. */
@Injectable()
export class AwsResources {
  readonly inputBucket: ObjectStore;
  readonly outputBucket: ObjectStore;
  readonly launchQueue: Queue;
  readonly monitorQueue: Queue;
  readonly outputQueue: Queue;
  /** The results topic (OUTPUT_TOPIC_ARN), when configured. */
  readonly outputTopic?: Topic;
  /** Where results are announced: the results topic when configured, else the output queue. */
  readonly resultAnnouncements: MessageSink;
  /** Launch messages SQS gave up on (received too often without being deleted), when configured. */
  readonly launchDeadLetterQueue?: Queue;
  /** Monitor messages that failed again and again, when configured. */
  readonly monitorDeadLetterQueue?: Queue;
  /** Webhook deliveries (WEBHOOK_QUEUE_URL), when configured. */
  readonly webhookQueue?: Queue;
  private readonly queueOptions: { visibleCountIncludesInFlight: boolean };

  constructor(
    config: AppConfig,
    private readonly clients: AwsClients,
  ) {
    const q = { visibleCountIncludesInFlight: config.aws.sqsVisibleCountIncludesInFlight };
    this.inputBucket = new ObjectStore(clients.s3, config.buckets.input);
    this.outputBucket = new ObjectStore(clients.s3, config.buckets.output);
    if (config.queues.launchDeadLetter) this.launchDeadLetterQueue = new Queue(clients.sqs, config.queues.launchDeadLetter, q);
    if (config.queues.monitorDeadLetter) this.monitorDeadLetterQueue = new Queue(clients.sqs, config.queues.monitorDeadLetter, q);
    this.launchQueue = new Queue(clients.sqs, config.queues.launch, { ...q, deadLetterQueue: this.launchDeadLetterQueue });
    this.monitorQueue = new Queue(clients.sqs, config.queues.monitor, { ...q, deadLetterQueue: this.monitorDeadLetterQueue });
    this.outputQueue = new Queue(clients.sqs, config.queues.output, q);
    if (config.queues.webhook) this.webhookQueue = new Queue(clients.sqs, config.queues.webhook, q);
    if (config.topics.output) this.outputTopic = new Topic(clients.sns, config.topics.output);
    this.resultAnnouncements = this.outputTopic ?? this.outputQueue;
    this.queueOptions = q;
  }

  /** A queue of this process subscribed to the results topic (see SubscribedQueue); needs OUTPUT_TOPIC_ARN. */
  async subscribeToResults(o: { name: string; retentionSeconds: number; now?: () => number }): Promise<SubscribedQueue> {
    if (!this.outputTopic) throw new Error('no results topic configured (OUTPUT_TOPIC_ARN)');
    return SubscribedQueue.open(this.clients.sqs, this.outputTopic, { ...o, queueOptions: this.queueOptions });
  }

  /** Removes abandoned queues subscribed to the results topic (see SubscribedQueue.sweep). */
  async sweepResultQueues(o: { prefix: string; abandonedAfterSeconds: number; keepArn?: string; now?: () => number }): Promise<string[]> {
    if (!this.outputTopic) return [];
    return SubscribedQueue.sweep(this.clients.sqs, this.outputTopic, o);
  }
}
