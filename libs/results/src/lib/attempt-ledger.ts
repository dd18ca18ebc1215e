import { NotFoundError, type ObjectStore } from '@app/aws';
import { attemptKey } from '@app/contracts';

/**
 * The monitor controller's record of the latest attempt it queued for an image
 * (`attempts/<imageId>.json` in the output bucket). Read by the monitor, to
 * tell a stale check from a current one, and by the worker, to discard the late
 * work of a superseded attempt instead of writing it.
 */
export class AttemptLedger {
  constructor(private readonly bucket: ObjectStore) {}

  /** The latest attempt queued, or 0 when the image was never re-queued. */
  async latest(imageId: string): Promise<number> {
    let body: Buffer;
    try {
      body = await this.bucket.getBuffer(attemptKey(imageId));
    } catch (err) {
      if (err instanceof NotFoundError) return 0;
      throw err;
    }
    try {
      const attempt = (JSON.parse(body.toString('utf8')) as { attempt?: unknown }).attempt;
      return typeof attempt === 'number' && Number.isInteger(attempt) ? attempt : 0;
    } catch {
      return 0; // an unreadable record supersedes nothing
    }
  }

  /** Call only after the attempt's launch message is sent (send before you record). */
  async record(imageId: string, attempt: number): Promise<void> {
    await this.bucket.put(attemptKey(imageId), JSON.stringify({ attempt, at: new Date().toISOString() }), {
      contentType: 'application/json',
    });
  }

  async isSuperseded(imageId: string, attempt: number): Promise<boolean> {
    return (await this.latest(imageId)) > attempt;
  }
}
