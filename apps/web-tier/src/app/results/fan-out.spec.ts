import { ListQueuesCommand } from '@aws-sdk/client-sqs';
import { AwsResources, Topic, type ObjectStore } from '@app/aws';
import { loadConfig } from '@app/config';
import { imageBatchKey, resultKey, serialize, type LaunchMessage } from '@app/contracts';
import { ResultPublisher } from '@app/results';
import { startTestStack, until, type TestStack } from '@tools/testing';
import { datasetImage, form, openEvents, resultFor, startWebApp, takeLaunches, type SseEventSeen, type WebApp } from '../../../test/web-test-kit';

jest.setTimeout(60_000);

interface Upload {
  batchId: string;
  images: { imageId: string }[];
}

const TIER_PREFIX = 'fan-tier-';
const KEY_A = 'alpha-key-0123456789abcdef0123456789abcdef';
const KEY_B = 'beta-key-0123456789abcdef0123456789abcdef0';
/** Tenant alpha's requests; beta is the other tenant. */
const AS_A = { 'x-api-key': KEY_A };

/**
 * Three web tiers in this process on one local edge, with the results topic,
 * and two tenants: the test plays the worker, publishing each result the way
 * the worker does (ResultPublisher: the output bucket, then the topic).
 */
describe('results reach every web tier through the results topic', () => {
  let stack: TestStack;
  let topic: Topic;
  let publisher: ResultPublisher;
  /** When each result's S3 write was done (ms), by its key. */
  const writtenAt = new Map<string, number>();
  const tiers: WebApp[] = [];
  const tier = (n: 1 | 2 | 3): WebApp => tiers[n - 1];

  beforeAll(async () => {
    stack = await startTestStack({ queuePrefix: 'fan-' });
    topic = await Topic.create(stack.clients.sns, 'fan-results');
    const env = { OUTPUT_TOPIC_ARN: topic.arn, WEB_TIER_QUEUE_PREFIX: TIER_PREFIX, API_KEYS: `alpha=${KEY_A},beta=${KEY_B}` };
    const started = await Promise.allSettled([1, 2, 3].map(() => startWebApp(stack, env)));
    for (const s of started) if (s.status === 'fulfilled') tiers.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    const resources = new AwsResources(loadConfig({ ...stack.env, ...env }), stack.clients);
    // The output bucket as the publisher sees it, noting when each result's write is done.
    const bucket = Object.create(resources.outputBucket) as ObjectStore;
    bucket.putIfAbsent = async (key, ...rest) => {
      const outcome = await resources.outputBucket.putIfAbsent(key, ...rest);
      writtenAt.set(key, Date.now());
      return outcome;
    };
    publisher = new ResultPublisher(bucket, resources.resultAnnouncements, { batch: true });
  });
  afterAll(async () => {
    await Promise.all(tiers.map((t) => t.close()));
    await stack?.stop();
  });

  async function upload(n: number, first: number): Promise<{ batch: Upload; launches: LaunchMessage[] }> {
    const files = Array.from({ length: n }, (_, i) => datasetImage(first + i));
    const res = await fetch(`${tier(1).url}/api/images`, { method: 'POST', headers: AS_A, body: form('images', files) });
    expect(res.status).toBe(202);
    const batch = (await res.json()) as Upload;
    const launches = await takeLaunches(stack.resources, n);
    // In the batch's order, so that a test can pick images by place.
    const byId = new Map(launches.map((l) => [l.imageId, l]));
    return { batch, launches: batch.images.map((i) => byId.get(i.imageId) as LaunchMessage) };
  }

  /** Publishes as the worker does (the output bucket, then the topic). */
  async function publish(launches: LaunchMessage[]): Promise<void> {
    await Promise.all(launches.map((l) => publisher.publish(resultFor(l, `label of ${l.imageId}`))));
    await publisher.idle();
  }

  const imageIdOf = (e: SseEventSeen) => (e.data as { imageId: string }).imageId;

  it('a batch uploaded through tier 1 and followed over SSE on tier 2 gets every result within 2 s of its S3 write', async () => {
    const { batch, launches } = await upload(6, 40);
    const heardAt = new Map<string, number>();
    const stream = openEvents(`${tier(2).url}/api/batches/${batch.batchId}/events`, AS_A, (e) => {
      if (e.event === 'result') heardAt.set(imageIdOf(e), Date.now());
      return e.event === 'done';
    });
    await until('the stream on tier 2 is open', () => stream.raw.includes('retry:'));

    await publish(launches.slice(0, 3));
    await publish(launches.slice(3));
    const events = await stream.finished;

    expect(events.map((e) => e.event)).toEqual(['result', 'result', 'result', 'result', 'result', 'result', 'done']);
    expect(events.slice(0, 6).map((e) => (e.data as { label: string }).label).sort()).toEqual(launches.map((l) => `label of ${l.imageId}`).sort());
    const latencies = launches.map((l) => (heardAt.get(l.imageId) ?? Infinity) - (writtenAt.get(resultKey(l.imageId)) ?? 0));
    for (const ms of latencies) expect(ms).toBeLessThan(2_000);
    expect(events[6].data).toEqual({ batchId: batch.batchId, total: 6, done: 6, failed: 0 });
  });

  it('a reconnect to tier 3 with Last-Event-ID gets exactly the results it missed, no duplicates', async () => {
    const { batch, launches } = await upload(6, 50);
    const path = `/api/batches/${batch.batchId}/events`;

    // On tier 2 the client hears two results (not the first two of the batch), then drops.
    const before = openEvents(`${tier(2).url}${path}`, AS_A, (e) => e.event === 'result' && before.events.length === 2);
    await until('the stream on tier 2 is open', () => before.raw.includes('retry:'));
    await publish([launches[4], launches[1]]);
    const seen = await before.finished;
    expect(seen.map(imageIdOf).sort()).toEqual([launches[4].imageId, launches[1].imageId].sort());
    const lastId = seen[1].id;
    expect(lastId).toBeDefined();

    // Two more while it is away; it reconnects to tier 3; the last two arrive while it follows there.
    await publish([launches[0], launches[5]]);
    const resumed = openEvents(`${tier(3).url}${path}`, { ...AS_A, 'last-event-id': String(lastId) });
    await until('tier 3 sent the two it missed', () => resumed.events.length >= 2);
    await publish([launches[2], launches[3]]);
    const events = await resumed.finished;

    const results = events.filter((e) => e.event === 'result').map(imageIdOf);
    expect(results).toHaveLength(4);
    expect(results.slice(0, 2).sort()).toEqual([launches[0].imageId, launches[5].imageId].sort());
    expect(results.slice(2).sort()).toEqual([launches[2].imageId, launches[3].imageId].sort());
    expect(events.at(-1)).toEqual({ event: 'done', data: { batchId: batch.batchId, total: 6, done: 6, failed: 0 } });

    // The last id names the whole batch: a reconnect anywhere with it gets nothing again, only done.
    const finalId = events.filter((e) => e.event === 'result').at(-1)?.id;
    const again = await openEvents(`${tier(1).url}${path}`, { ...AS_A, 'last-event-id': String(finalId) }).finished;
    expect(again.map((e) => e.event)).toEqual(['done']);
  });

  const getImage = (n: 1 | 2 | 3, imageId: string, key = KEY_A) => fetch(`${tier(n).url}/api/images/${imageId}`, { headers: { 'x-api-key': key } });
  async function imageOn(n: 1 | 2 | 3, imageId: string): Promise<Record<string, unknown>> {
    const res = await getImage(n, imageId);
    const body = (await res.json()) as Record<string, unknown>;
    if (res.status !== 200) throw new Error(`tier ${n}: HTTP ${res.status} ${JSON.stringify(body)}`);
    return body;
  }
  async function expectNoImage(n: 1 | 2 | 3, imageId: string, key = KEY_A): Promise<void> {
    const res = await getImage(n, imageId, key);
    expect({ status: res.status, body: await res.json() }).toEqual({ status: 404, body: { statusCode: 404, error: 'Not Found', message: `no image ${imageId}` } });
  }

  it('GET /api/images/{id} answers the same on a tier that did not take the upload: queued, then the stored result; 404 to another tenant', async () => {
    const { batch, launches } = await upload(2, 60);
    const [launch] = launches;
    const queued = { imageId: launch.imageId, batchId: batch.batchId, fileName: launch.fileName, status: 'queued' };
    for (const n of [1, 2] as const) {
      const answer = await imageOn(n, launch.imageId);
      expect(answer).toMatchObject(queued);
      expect(answer['url']).toContain(launch.inputKey);
    }
    await expectNoImage(2, launch.imageId, KEY_B);

    // The result is stored, not yet announced: every tier answers it from the bucket, the one that took the upload too.
    await stack.resources.outputBucket.put(resultKey(launch.imageId), serialize(resultFor(launch, 'stored, not announced')), { contentType: 'application/json' });
    for (const n of [1, 2] as const) expect(await imageOn(n, launch.imageId)).toMatchObject({ ...queued, status: 'done', label: 'stored, not announced' });
    await expectNoImage(2, launch.imageId, KEY_B);
    expect(await imageOn(2, launches[1].imageId)).toMatchObject({ status: 'queued', batchId: batch.batchId });
  });

  it('an image added to an open batch is found on any tier, is gone from every tier once its batch is deleted, and a pointer alone finds nothing', async () => {
    const created = await fetch(`${tier(2).url}/api/batches`, { method: 'POST', headers: AS_A });
    const { batchId } = (await created.json()) as { batchId: string };
    const added = await fetch(`${tier(1).url}/api/batches/${batchId}/images`, { method: 'POST', headers: AS_A, body: form('images', [datasetImage(63)]) });
    expect(added.status).toBe(202);
    const [launch] = await takeLaunches(stack.resources, 1);
    expect(await imageOn(3, launch.imageId)).toMatchObject({ imageId: launch.imageId, batchId, status: 'queued' });

    // A pointer into the batch for an image its index does not list (an upload that failed after all): not found.
    const stray = '00000000-0000-4000-8000-000000000063';
    await stack.resources.outputBucket.put(imageBatchKey('alpha', stray), JSON.stringify({ v: 1, batchId }), { contentType: 'application/json' });
    await expectNoImage(3, stray);

    expect((await fetch(`${tier(2).url}/api/batches/${batchId}`, { method: 'DELETE', headers: AS_A })).status).toBe(204);
    // Tier 1 took the upload and still remembers the image as queued: the index has the last word there too.
    for (const n of [1, 2, 3] as const) await expectNoImage(n, launch.imageId);
    expect(await stack.resources.outputBucket.list(imageBatchKey('alpha', launch.imageId))).toEqual([]);
  });

  it("each tier hears results on a queue of its own, removed with the tier", async () => {
    const queues = async () => (await stack.clients.sqs.send(new ListQueuesCommand({ QueueNamePrefix: TIER_PREFIX }))).QueueUrls ?? [];
    expect(await queues()).toHaveLength(3);
    const last = tiers.pop() as WebApp;
    await last.close();
    expect(await queues()).toHaveLength(2);
  });
});
