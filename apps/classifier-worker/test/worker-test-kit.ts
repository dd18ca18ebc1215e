import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Queue } from '@app/aws';
import {
  inputKey,
  launchMessage,
  parseOutputMessage,
  resultKey,
  serialize,
  type ImageExtension,
  type LaunchMessage,
  type OutputMessage,
} from '@app/contracts';
import { SCENES_DIR, SMALL_IMAGES_DIR, type TestStack } from '@tools/testing';
import type { WorkerLoopDeps } from '../src/app/worker-loop';

/** The repository's rendered test images: 100 small JPEGs, and a few photo-sized ones. */
export const SMALL_IMAGES = SMALL_IMAGES_DIR;
export const SAMPLE_IMAGES = SCENES_DIR;

export interface TestImage {
  bytes: Buffer;
  ext: ImageExtension;
  name: string;
  /** Leave it out of the input bucket (the launch message points at nothing). */
  missing?: boolean;
}

export function photos(n: number, dir = SMALL_IMAGES): TestImage[] {
  const order = (f: string) => Number(/\d+/.exec(f)?.[0] ?? 0);
  return readdirSync(dir)
    .filter((f) => /\.jpe?g$/i.test(f))
    .sort((a, b) => order(a) - order(b) || a.localeCompare(b))
    .slice(0, n)
    .map((name) => ({ bytes: readFileSync(join(dir, name)), ext: 'jpg', name }));
}

/** Stores the images and sends one launch message each (in batches of ten), the tenant's when one is named. */
export async function enqueue(stack: TestStack, images: TestImage[], attempt = 1, tenant?: string): Promise<LaunchMessage[]> {
  const batchId = randomUUID();
  const messages: LaunchMessage[] = [];
  for (const img of images) {
    const imageId = randomUUID();
    const key = inputKey(batchId, imageId, img.ext);
    if (!img.missing) await stack.resources.inputBucket.put(key, img.bytes);
    messages.push(launchMessage({ batchId, imageId, fileName: img.name, attempt, inputKey: key, enqueuedAt: new Date().toISOString(), ...(tenant ? { tenant } : {}) }));
  }
  await stack.resources.launchQueue.sendBatch(messages.map((m, i) => ({ id: String(i), body: serialize(m), messageGroupId: tenant })));
  return messages;
}

/** Receives (and deletes) every message on the queue until `n` arrived or `timeoutMs` passed. */
export async function drain(queue: Queue, n: number, timeoutMs = 10_000): Promise<string[]> {
  const bodies: string[] = [];
  const until = Date.now() + timeoutMs;
  while (bodies.length < n && Date.now() < until) {
    const got = await queue.receive({ maxMessages: 10, waitSeconds: 1 });
    bodies.push(...got.map((m) => m.body));
    if (got.length > 0) await queue.deleteBatch(got.map((m) => m.receiptHandle));
  }
  return bodies;
}

export async function outputs(stack: TestStack, n: number, timeoutMs?: number): Promise<OutputMessage[]> {
  return (await drain(stack.resources.outputQueue, n, timeoutMs)).map(parseOutputMessage);
}

export async function storedResult(stack: TestStack, imageId: string): Promise<OutputMessage | undefined> {
  const stored = await stack.resources.outputBucket.getIfExists(resultKey(imageId));
  return stored && parseOutputMessage(stored.body.toString('utf8'));
}

/** A logger that keeps every line, for assertions. */
export function recordingLogger() {
  const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  const at = (level: string) => (fields: object, msg: string) => lines.push({ level, msg, fields: fields as Record<string, unknown> });
  return { lines, log: { info: at('info'), warn: at('warn'), error: at('error') } };
}

/** The queue, with how many messages each receive asked for recorded in `asked`. */
export function recordingReceives(queue: Queue): { queue: Queue; asked: number[]; deleted: number[] } {
  const asked: number[] = [];
  const deleted: number[] = [];
  const recording = Object.create(queue) as Queue;
  recording.receive = (o = {}) => {
    asked.push(o.maxMessages ?? 1);
    return queue.receive(o);
  };
  recording.deleteBatch = (handles) => {
    deleted.push(handles.length);
    return queue.deleteBatch(handles);
  };
  return { queue: recording, asked, deleted };
}

/** The queues and buckets a WorkerLoop works on, from a test stack (results announced on its output queue). */
export function workerStores(stack: TestStack): Pick<WorkerLoopDeps, 'launchQueue' | 'monitorQueue' | 'outputQueue' | 'inputBucket' | 'outputBucket'> {
  const r = stack.resources;
  return { launchQueue: r.launchQueue, monitorQueue: r.monitorQueue, outputQueue: r.outputQueue, inputBucket: r.inputBucket, outputBucket: r.outputBucket };
}
