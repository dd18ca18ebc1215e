import { Injectable } from '@nestjs/common';
import { AppConfig } from '@app/config';
import { AwsClients } from './clients';
import { ObjectStore } from './object-store';
import { Queue } from './queue';

/** The project's buckets and queues, each as an adapter, from the configuration. */
@Injectable()
export class AwsResources {
  readonly inputBucket: ObjectStore;
  readonly outputBucket: ObjectStore;
  readonly launchQueue: Queue;
  readonly monitorQueue: Queue;
  readonly outputQueue: Queue;
  /** Launch messages SQS gave up on (received too often without being deleted), when configured. */
  readonly launchDeadLetterQueue?: Queue;
  /** Monitor messages that failed again and again, when configured. */
  readonly monitorDeadLetterQueue?: Queue;
  /** Webhook deliveries (WEBHOOK_QUEUE_URL), when configured. */
  readonly webhookQueue?: Queue;

  constructor(config: AppConfig, clients: AwsClients) {
    const q = { visibleCountIncludesInFlight: config.aws.sqsVisibleCountIncludesInFlight };
    this.inputBucket = new ObjectStore(clients.s3, config.buckets.input);
    this.outputBucket = new ObjectStore(clients.s3, config.buckets.output);
    if (config.queues.launchDeadLetter) this.launchDeadLetterQueue = new Queue(clients.sqs, config.queues.launchDeadLetter, q);
    if (config.queues.monitorDeadLetter) this.monitorDeadLetterQueue = new Queue(clients.sqs, config.queues.monitorDeadLetter, q);
    this.launchQueue = new Queue(clients.sqs, config.queues.launch, { ...q, deadLetterQueue: this.launchDeadLetterQueue });
    this.monitorQueue = new Queue(clients.sqs, config.queues.monitor, { ...q, deadLetterQueue: this.monitorDeadLetterQueue });
    this.outputQueue = new Queue(clients.sqs, config.queues.output, q);
    if (config.queues.webhook) this.webhookQueue = new Queue(clients.sqs, config.queues.webhook, q);
  }
}
