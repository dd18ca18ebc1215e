import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** One message as local-aws-sqs keeps it (the fields its records expose). */
interface EmulatedRecord {
  visible: boolean;
  delayed: boolean;
  record: { MessageId: string; ReceiptHandle: string; attributes: Record<string, string> };
}

interface ReceiveRequest {
  VisibilityTimeout?: number | string;
  WaitTimeSeconds?: number | string;
  MaxNumberOfMessages?: number | string;
}

/** The public surface of a local-aws-sqs queue this edge builds on. */
interface EmulatedQueue {
  QueueName: string;
  FifoQueue: boolean;
  VisibilityTimeout: number;
  ReceiveMessageWaitTimeSeconds: number;
  DelaySeconds: number;
  newRecord: (msg: Record<string, unknown>, delay?: number) => EmulatedRecord;
  receive(request: ReceiveRequest): Promise<unknown[]>;
  delete(receiptHandle: string): boolean;
  changeVisibility(receiptHandle: string, visibilityTimeout: string | number): boolean;
  clearRecords(): void;
}

/** The emulator's service: its queues (local-aws-sqs's `createRequestHandler(...).service`). */
export interface EmulatedSqsService {
  Queues: unknown[];
}

interface Tracked {
  entry: EmulatedRecord;
  /** The tenant: MessageGroupId, or the message's own id when it has none (its own tenant, as in SQS). */
  group: string;
  /** Send order on this queue: lower is older. */
  seq: number;
  /**
   * When its delay ends (ms since epoch). The emulator's own `delayed` flag is cleared by a
   * timer, 0 s delays included, so a receive handled before that timer ran would miss a
   * message sent a moment earlier (and serve another tenant's first).
   */
  deliverableAt: number;
  /** When its current visibility timeout ends (ms since epoch); unset until first received. */
  hiddenUntil?: number;
}

/** How often a waiting receive looks again, and how long a receive collects at least (local-aws-sqs's own figures). */
const POLL_MS = 10;
const MIN_COLLECT_MS = 40;
/** A record hidden this long past its visibility timeout has left the queue (moved to the dead-letter queue). */
const GONE_AFTER_MS = 60_000;

const installed = new WeakSet<object>();

/**
 * Fair queues on the local edge. SQS fair queues are standard queues whose
 * messages carry a `MessageGroupId` (the tenant): when one tenant holds a
 * disproportionate share of the messages in flight, SQS serves the other
 * tenants' messages first, so a tenant's backlog does not delay another
 * tenant's first message. local-aws-sqs keeps `MessageGroupId` on a standard
 * queue but serves strictly oldest first. This replaces the receive of each
 * standard queue: each message taken goes to the group with the fewest
 * messages outstanding, waiting or in flight (ties: the group whose oldest
 * waiting message is oldest), oldest first within a group. So the quiet
 * tenants are served first whenever they have a message waiting, and the
 * tenant with the backlog gets the rest, as SQS does once it has marked a
 * tenant noisy (AWS marks a tenant whose messages in flight are at least 30
 * and over 10% of all, or whose share of recent processing time is over 10%;
 * the edge does not wait for that, so locally, with few workers, the order is
 * what a large fleet on AWS sees).
 *
 * Everything else stays the emulator's: a message is hidden through its own
 * ChangeMessageVisibility (receive count, visibility timer, redrive), and the
 * long-poll timing is the emulator's (it collects until it has
 * MaxNumberOfMessages or the wait ends).
 */
export function withFairGroups(enabled: boolean, emulator: { service: EmulatedSqsService; requestHandler: Handler }): Handler {
  const { service, requestHandler: handler } = emulator;
  if (!enabled) return handler;
  return (req, res) => {
    // Queues may be created at any time (CreateQueue): take each new one before its first message.
    serveGroupsFairly(service);
    return handler(req, res);
  };
}

/** Makes each standard queue of `service` not yet served fairly serve its message groups fairly. */
export function serveGroupsFairly(service: EmulatedSqsService): void {
  for (const queue of service.Queues as EmulatedQueue[]) {
    if (!queue.FifoQueue && !installed.has(queue)) install(queue);
  }
}

function install(queue: EmulatedQueue): void {
  installed.add(queue);
  // Insertion order is send order: each group's messages are met oldest first.
  const records = new Map<string, Tracked>();
  let sent = 0;
  const newRecord = queue.newRecord;
  const remove = queue.delete.bind(queue);
  const changeVisibility = queue.changeVisibility.bind(queue);
  const clearRecords = queue.clearRecords.bind(queue);

  queue.newRecord = (msg, delay) => {
    const entry = newRecord(msg, delay);
    const id = entry.record.MessageId;
    const delaySeconds = Number.isNaN(Number(delay)) ? queue.DelaySeconds : Number(delay);
    records.set(id, { entry, group: entry.record.attributes['MessageGroupId'] ?? `\u0000${id}`, seq: sent++, deliverableAt: Date.now() + delaySeconds * 1000 });
    return entry;
  };
  queue.delete = (receiptHandle) => {
    const done = remove(receiptHandle);
    const id = messageIdOf(receiptHandle);
    if (done && id) records.delete(id);
    return done;
  };
  queue.changeVisibility = (receiptHandle, seconds) => {
    const done = changeVisibility(receiptHandle, seconds);
    const tracked = records.get(messageIdOf(receiptHandle) ?? '');
    if (done && tracked) tracked.hiddenUntil = Date.now() + visibilityMs(queue, seconds);
    return done;
  };
  queue.clearRecords = () => {
    clearRecords();
    records.clear();
  };

  /** Hides one message as a receive does, through the emulator's own visibility change; false when it has left the queue. */
  const take = (tracked: Tracked, visibility: number | string | undefined): boolean => {
    const { record } = tracked.entry;
    record.ReceiptHandle = receiptHandle(record.MessageId, queue.QueueName);
    const taken = queue.changeVisibility(record.ReceiptHandle, visibility ?? queue.VisibilityTimeout);
    if (!taken) records.delete(record.MessageId);
    return taken;
  };

  /** Takes up to `wanted` visible messages, fairly across groups. */
  const takeFairly = (wanted: number, visibility: number | string | undefined): EmulatedRecord[] => {
    const now = Date.now();
    /** Messages outstanding per group: waiting or in flight (a receive moves one from the first to the second). */
    const load = new Map<string, number>();
    const waiting = new Map<string, Tracked[]>();
    for (const [id, t] of records) {
      if (!t.entry.visible) {
        const until = t.hiddenUntil ?? Infinity;
        if (until > now) load.set(t.group, (load.get(t.group) ?? 0) + 1);
        else if (until + GONE_AFTER_MS < now) records.delete(id);
      } else if (!t.entry.delayed || t.deliverableAt <= now) {
        load.set(t.group, (load.get(t.group) ?? 0) + 1);
        const list = waiting.get(t.group);
        if (list) list.push(t);
        else waiting.set(t.group, [t]);
      }
    }
    const taken: EmulatedRecord[] = [];
    while (taken.length < wanted && waiting.size > 0) {
      let best: string | undefined;
      for (const group of waiting.keys()) {
        if (best === undefined) best = group;
        else {
          const d = (load.get(group) ?? 0) - (load.get(best) ?? 0);
          if (d < 0 || (d === 0 && headSeq(waiting, group) < headSeq(waiting, best))) best = group;
        }
      }
      const group = best as string;
      const list = waiting.get(group) as Tracked[];
      const next = list.shift() as Tracked;
      if (list.length === 0) waiting.delete(group);
      if (take(next, visibility)) taken.push(next.entry);
      else load.set(group, (load.get(group) ?? 1) - 1);
    }
    return taken;
  };

  queue.receive = async ({ VisibilityTimeout, WaitTimeSeconds, MaxNumberOfMessages }) => {
    const waitSeconds = Number(WaitTimeSeconds ?? queue.ReceiveMessageWaitTimeSeconds);
    const wanted = Number(MaxNumberOfMessages ?? 1);
    const visibility = VisibilityTimeout === undefined ? undefined : Number(VisibilityTimeout);
    const started = Date.now();
    const until = started + MIN_COLLECT_MS + waitSeconds * 1000;
    const taken: EmulatedRecord[] = [];
    for (;;) {
      taken.push(...takeFairly(wanted - taken.length, visibility));
      // As SQS does, a long poll answers once it has messages, not only once it has MaxNumberOfMessages
      // (local-aws-sqs waits for all of them, so a few messages sat in a pending poll for up to 20 s).
      if (taken.length >= wanted || Date.now() >= until || (taken.length > 0 && Date.now() >= started + MIN_COLLECT_MS)) break;
      // Unref'd, as the emulator's own poll timers: a poll whose client is gone must not keep a
      // process that stopped its edge alive until the poll's wait ends.
      await sleep(POLL_MS, undefined, { ref: false });
    }
    // Copies, as the emulator answers: later receives must not change what this one returns.
    return taken.map((e) => ({ ...e.record, attributes: { ...e.record.attributes } }));
  };
}

function headSeq(waiting: Map<string, Tracked[]>, group: string): number {
  return (waiting.get(group) as Tracked[])[0].seq;
}

function visibilityMs(queue: EmulatedQueue, seconds: number | string): number {
  const n = Number(seconds);
  return (Number.isNaN(n) ? queue.VisibilityTimeout : n) * 1000;
}

/** A receipt handle in local-aws-sqs's format: base64 of a random id and `{ date, MessageId, QueueName }`. */
function receiptHandle(messageId: string, queueName: string): string {
  return Buffer.from(randomUUID() + JSON.stringify({ date: Date.now(), MessageId: messageId, QueueName: queueName }), 'utf-8').toString('base64');
}

function messageIdOf(receiptHandle: string): string | undefined {
  try {
    const text = Buffer.from(receiptHandle, 'base64').toString('utf8');
    return (JSON.parse(text.slice(text.indexOf('{'))) as { MessageId?: string }).MessageId;
  } catch {
    return undefined;
  }
}
