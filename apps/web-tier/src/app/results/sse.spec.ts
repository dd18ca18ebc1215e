import { followSse } from '@app/api-client';
import { until } from '@tools/testing';
import { datasetImage, eventually, form, openEvents, publishResult, resultFor, takeLaunches, webTiersPerTest } from '../../../test/web-test-kit';

jest.setTimeout(60_000);

interface Upload {
  batchId: string;
  images: { imageId: string }[];
}

describe('server-sent events: heartbeats, a maximum lifetime, and Last-Event-ID replay', () => {
  const tiers = webTiersPerTest();

  async function upload(n: number): Promise<Upload> {
    const res = await fetch(`${tiers.tier.url}/api/images`, { method: 'POST', body: form('images', Array.from({ length: n }, (_, i) => datasetImage(20 + i))) });
    expect(res.status).toBe(202);
    return (await res.json()) as Upload;
  }

  it('an idle stream gets comment lines every SSE_HEARTBEAT_SECONDS and ends after SSE_MAX_LIFETIME_SECONDS (no done)', async () => {
    const web = await tiers.start({ SSE_HEARTBEAT_SECONDS: '1', SSE_MAX_LIFETIME_SECONDS: '3' });
    const batch = await upload(1);
    await takeLaunches(tiers.stack.resources, 1);
    const started = Date.now();
    const stream = openEvents(`${web.url}/api/batches/${batch.batchId}/events`, {}, () => false);
    const events = await stream.finished;
    const lasted = Date.now() - started;
    expect(events).toEqual([]);
    expect(stream.raw.match(/^: keep-alive$/gm)?.length ?? 0).toBeGreaterThanOrEqual(2);
    expect(stream.raw).toContain('retry: 1000');
    expect(lasted).toBeGreaterThanOrEqual(2_500);
    expect(lasted).toBeLessThan(10_000);
    const metrics = await (await fetch(`${web.url}/metrics`)).text();
    expect(metrics).toMatch(/^ics_web_sse_streams 0$/m);
  });

  it("the page's followSse reconnects after each stream's lifetime and ends up with every result once", async () => {
    await tiers.start({ SSE_MAX_LIFETIME_SECONDS: '1' });
    const batch = await upload(3);
    const launches = await takeLaunches(tiers.stack.resources, 3);
    const seen: { event: string; data: { imageId?: string; label?: string } }[] = [];
    let streamsOpened = 0;
    const countingFetch: typeof fetch = (input, init) => (streamsOpened++, fetch(input, init));
    const following = (async () => {
      for await (const ev of followSse(`${tiers.tier.url}/api/batches/${batch.batchId}/events`, { retryMs: 100, fetch: countingFetch })) seen.push({ event: ev.event, data: JSON.parse(ev.data) });
    })();
    // One result per stream: after each one is seen, the next goes out only once its stream has
    // ended and the client has reconnected, so each reconnect must pick up where the last one stopped.
    for (const [i, launch] of launches.entries()) {
      await publishResult(tiers.stack.resources, resultFor(launch, `label ${i}`));
      await until(`result ${i} seen`, () => seen.length >= i + 1);
      const streamOfResult = streamsOpened;
      if (i < launches.length - 1) await until(`a stream opened after result ${i}`, () => streamsOpened > streamOfResult);
    }
    await following;
    expect(seen.map((e) => e.event)).toEqual(['result', 'result', 'result', 'done']);
    expect(seen.slice(0, 3).map((e) => e.data.label).sort()).toEqual(['label 0', 'label 1', 'label 2']);
  });

  it('a client that reconnects with Last-Event-ID gets exactly what it missed; an unknown id gets everything', async () => {
    let web = await tiers.start();
    const batch = await upload(3);
    const launches = await takeLaunches(tiers.stack.resources, 3);
    const byId = new Map(launches.map((l) => [l.imageId, l]));
    const [first, second, third] = batch.images.map((i) => { const l = byId.get(i.imageId); if (!l) throw new Error(`no launch message for ${i.imageId}`); return l; });
    const url = `${web.url}/api/batches/${batch.batchId}/events`;

    const before = openEvents(url, {}, (e) => e.event === 'result');
    await publishResult(tiers.stack.resources, resultFor(first, 'label one'));
    const [seen] = await before.finished;
    // The id names the images sent, by place in the batch: the first one.
    expect(seen).toMatchObject({ event: 'result', id: 's1.', data: { imageId: first.imageId, label: 'label one' } });

    // Disconnected while two more results arrive.
    await publishResult(tiers.stack.resources, resultFor(second, 'label two'));
    await publishResult(tiers.stack.resources, resultFor(third, 'label three'));
    await eventually(async () => ((await (await fetch(`${tiers.tier.url}/api/batches/${batch.batchId}`)).json()) as { finished: boolean }).finished);

    const resumed = await openEvents(url, { 'last-event-id': String(seen.id) }).finished;
    // The two missed ones, then done.
    expect(resumed.map((e) => e.event)).toEqual(['result', 'result', 'done']);
    expect(resumed.slice(0, 2).map((e) => (e.data as { imageId: string }).imageId).sort()).toEqual([second.imageId, third.imageId].sort());
    // Results already known are sent in the batch's order: places below 2 seen, then below 3.
    expect(resumed.map((e) => e.id)).toEqual(['s2.', 's3.', undefined]);
    expect(resumed[2].data).toEqual({ batchId: batch.batchId, total: 3, done: 3, failed: 0 });

    const everything = await openEvents(url, { 'last-event-id': 'someone-else.2' }).finished;
    expect(everything.map((e) => (e.data as { label?: string }).label).slice(0, 3).sort()).toEqual(['label one', 'label three', 'label two']);
    expect(everything.map((e) => e.event)).toEqual(['result', 'result', 'result', 'done']);

    // The id means the same to a restarted tier (it is read against the batch index in S3): only what was missed.
    web = await tiers.start();
    const afterRestart = await openEvents(`${web.url}/api/batches/${batch.batchId}/events`, { 'last-event-id': String(seen.id) }).finished;
    expect(afterRestart.map((e) => (e.data as { label?: string }).label).sort()).toEqual(['label three', 'label two', undefined].sort());
  });
});
