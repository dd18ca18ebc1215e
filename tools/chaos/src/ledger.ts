/** Where an answer was seen. */
export type Channel = 'classic' | 'rest-batch' | 'rest-image' | 'sse' | 'bucket';

export interface Answer {
  status: 'ok' | 'error';
  /** The label for `ok`; absent for an error. */
  label?: string;
  /** Which try produced it (1 = first), when the channel says. */
  attempt?: number;
  /** Worker id, or monitor-controller for a give-up, when the channel says. */
  producedBy?: string;
}

interface Entry {
  imageId: string;
  fileName: string;
  source: 'batch' | 'classic';
  /** The image the client meant to send that this one stored: two entries of one request are a duplicate. */
  request: string;
  acceptedAt: number;
  firstAnsweredAt?: number;
  seen: { channel: Channel; answer: Answer }[];
}

export interface LedgerSummary {
  /** Images the client meant to send that the service stored, each once however many copies it stored. */
  accepted: number;
  /** Of those, the ones whose every stored copy was answered. */
  answered: number;
  lost: number;
  /** Stored copies beyond the first of one image the client sent (a retry that became a second image). */
  duplicates: number;
  /** Images with two different answers anywhere. */
  conflicting: number;
  /** Images whose answer is an error (every image of a chaos run classifies when nothing fails). */
  errorResults: number;
  maxAttempts: number;
  conflicts: { imageId: string; fileName: string; answers: string[] }[];
  lostImages: { imageId: string; fileName: string }[];
}

const identity = (a: Answer) => (a.status === 'ok' ? `ok:${a.label}` : 'error');

/**
 * Every image the service accepted, and every answer seen for it on every
 * channel: the accounting behind "exactly one answer per image".
 */
export class AnswerLedger {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly clock: () => number = () => performance.now()) {}

  /** `request`: the image the client meant to send that this stored image is of (default: itself). */
  accept(imageId: string, fileName: string, source: Entry['source'], request = imageId): void {
    if (!this.entries.has(imageId)) this.entries.set(imageId, { imageId, fileName, source, request, acceptedAt: this.clock(), seen: [] });
  }

  has(imageId: string): boolean {
    return this.entries.has(imageId);
  }

  /** Records an answer (once per channel and answer); the first one seen for an image sets its answer time. */
  see(imageId: string, channel: Channel, answer: Answer, at = this.clock()): void {
    const e = this.entries.get(imageId);
    if (!e) throw new Error(`answer for an image that was never accepted: ${imageId}`);
    if (e.seen.some((s) => s.channel === channel && identity(s.answer) === identity(answer))) return;
    // The bucket is where answers are kept, not where users get them: it can conflict, but it answers no one.
    if (channel !== 'bucket' && (e.firstAnsweredAt === undefined || at < e.firstAnsweredAt)) e.firstAnsweredAt = at;
    e.seen.push({ channel, answer });
  }

  isAnswered(imageId: string): boolean {
    return this.entries.get(imageId)?.firstAnsweredAt !== undefined;
  }

  answeredAt(imageId: string): number | undefined {
    return this.entries.get(imageId)?.firstAnsweredAt;
  }

  /** The answer a user saw (the bucket's when no user channel has seen one). */
  answerOf(imageId: string): Answer | undefined {
    const seen = this.entries.get(imageId)?.seen ?? [];
    return (seen.find((s) => s.channel !== 'bucket') ?? seen[0])?.answer;
  }

  get size(): number {
    return this.entries.size;
  }

  get answeredCount(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.firstAnsweredAt !== undefined) n += 1;
    return n;
  }

  unanswered(): { imageId: string; fileName: string; source: Entry['source'] }[] {
    return [...this.entries.values()].filter((e) => e.firstAnsweredAt === undefined);
  }

  ids(): string[] {
    return [...this.entries.keys()];
  }

  lastAnswerAt(): number | undefined {
    let last: number | undefined;
    for (const e of this.entries.values()) if (e.firstAnsweredAt !== undefined && (last === undefined || e.firstAnsweredAt > last)) last = e.firstAnsweredAt;
    return last;
  }

  summary(): LedgerSummary {
    const conflicts: LedgerSummary['conflicts'] = [];
    const lostImages: LedgerSummary['lostImages'] = [];
    let maxAttempts = 0;
    let errorResults = 0;
    const requests = new Set<string>();
    const lostRequests = new Set<string>();
    for (const e of this.entries.values()) {
      requests.add(e.request);
      if (e.firstAnsweredAt !== undefined && this.answerOf(e.imageId)?.status === 'error') errorResults += 1;
      if (e.firstAnsweredAt === undefined) {
        lostImages.push({ imageId: e.imageId, fileName: e.fileName });
        lostRequests.add(e.request);
      }
      const distinct = new Set(e.seen.map((s) => identity(s.answer)));
      if (distinct.size > 1) {
        conflicts.push({ imageId: e.imageId, fileName: e.fileName, answers: e.seen.map((s) => `${s.channel}=${identity(s.answer)}`) });
      }
      for (const s of e.seen) maxAttempts = Math.max(maxAttempts, s.answer.attempt ?? 0);
    }
    return {
      accepted: requests.size,
      answered: requests.size - lostRequests.size,
      lost: lostRequests.size,
      duplicates: this.entries.size - requests.size,
      conflicting: conflicts.length,
      errorResults,
      maxAttempts,
      conflicts,
      lostImages,
    };
  }
}
