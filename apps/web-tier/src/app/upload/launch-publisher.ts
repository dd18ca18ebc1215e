import { Injectable } from '@nestjs/common';
import { AwsResources, SQS_BATCH_LIMIT, type BatchEntry } from '@app/aws';

/** How long a lone message waits for company before it is sent (ms). */
const LINGER_MS = 2;

interface Pending {
  body: string;
  /** The tenant (its MessageGroupId on the fair launch queue). */
  groupId?: string;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** A launch message SQS refused (its batch entry failed). */
export class LaunchRefusedError extends Error {
  override readonly name = 'LaunchRefusedError';
  constructor(readonly code: string, message: string) {
    super(`sqs.SendMessageBatch refused the message: ${code}${message ? `: ${message}` : ''}`);
  }
}

/**
 * Sends launch messages in batches of ten across requests: a hundred
 * single-file uploads arriving together become ten SendMessageBatch calls, not
 * a hundred SendMessage calls. Each caller still learns the fate of its own
 * messages. Batches go out in parallel.
 */
@Injectable()
export class LaunchPublisher {
  private pending: Pending[] = [];
  private timer?: NodeJS.Timeout;

  constructor(private readonly aws: AwsResources) {}

  /**
   * One promise per body: resolves once SQS has the message, rejects with why not.
   * `groupId` (the tenant) goes out as each message's MessageGroupId, so that the
   * launch queue shares workers out fairly between tenants.
   */
  publish(bodies: string[], groupId?: string): Promise<void>[] {
    const promises = bodies.map(
      (body) => new Promise<void>((resolve, reject) => this.pending.push({ body, groupId, resolve, reject })),
    );
    if (this.pending.length >= SQS_BATCH_LIMIT) {
      this.flush();
    } else {
      this.timer ??= setTimeout(() => this.flush(), LINGER_MS);
    }
    return promises;
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const all = this.pending;
    this.pending = [];
    for (let i = 0; i < all.length; i += SQS_BATCH_LIMIT) void this.send(all.slice(i, i + SQS_BATCH_LIMIT));
  }

  private async send(chunk: Pending[]): Promise<void> {
    const entries: BatchEntry[] = chunk.map((p, i) => ({ id: `m${i}`, body: p.body, messageGroupId: p.groupId }));
    try {
      const failures = new Map((await this.aws.launchQueue.sendBatch(entries)).map((f) => [f.id, f]));
      chunk.forEach((p, i) => {
        const f = failures.get(`m${i}`);
        if (f) p.reject(new LaunchRefusedError(f.code, f.message));
        else p.resolve();
      });
    } catch (err) {
      for (const p of chunk) p.reject(err as Error);
    }
  }
}
