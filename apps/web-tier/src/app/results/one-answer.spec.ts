import { datasetImage, eventually, form, openEvents, publishResult, resultFor, takeLaunches, webTiersPerTest } from '../../../test/web-test-kit';

jest.setTimeout(60_000);

interface ImageAnswer {
  status: string;
  label?: string;
  producedBy?: string;
}

/**
 * One answer per image id, whatever the channel: the classic body, the event
 * stream, REST, and a restarted web tier reading the output bucket. The test
 * plays the worker: it takes the launch message and writes results itself.
 */
describe('one answer per image, the same in classic, SSE, REST and after a restart', () => {
  const tiers = webTiersPerTest();

  const image = async (imageId: string) => (await (await fetch(`${tiers.tier.url}/api/images/${imageId}`)).json()) as ImageAnswer;

  it('two different results for one image: every channel shows the first, before and after a restart', async () => {
    let web = await tiers.start();
    const classic = fetch(`${web.url}/`, { method: 'POST', body: form('myfile', [datasetImage(30)]) });
    const [launch] = await takeLaunches(tiers.stack.resources, 1);
    const events = openEvents(`${web.url}/api/batches/${launch.batchId}/events`);

    // The first result is written (the bucket keeps it: conditional put) and announced; a
    // second, different one is announced too (a late worker, or a re-announcement gone wrong).
    await publishResult(tiers.stack.resources, resultFor(launch, 'first answer', 1));
    await publishResult(tiers.stack.resources, resultFor(launch, 'second answer', 2), { queue: true });
    await eventually(async () => /ics_web_results_total\{status="duplicate"\} 1\b/.test(await (await fetch(`${web.url}/metrics`)).text()));

    const answer = await classic;
    expect({ status: answer.status, body: await answer.text() }).toEqual({ status: 200, body: 'test_30:first answer' });
    const streamed = await events.finished;
    expect(streamed.map((e) => [e.event, (e.data as ImageAnswer).label])).toEqual([['result', 'first answer'], ['done', undefined]]);
    expect(await image(launch.imageId)).toMatchObject({ status: 'done', label: 'first answer', producedBy: 'test-worker-1' });
    const batch = (await (await fetch(`${web.url}/api/batches/${launch.batchId}`)).json()) as { images: ImageAnswer[] };
    expect(batch.images.map((i) => i.label)).toEqual(['first answer']);

    // A restarted tier reads the same answer back from the bucket, and a late duplicate changes nothing.
    web = await tiers.start();
    expect(await image(launch.imageId)).toMatchObject({ status: 'done', label: 'first answer' });
    // A late, different announcement reaches the restarted tier, which has forgotten the image:
    // heard only on the queue, it must not become the answer over the bucket's.
    await publishResult(tiers.stack.resources, resultFor(launch, 'third answer', 3), { queue: true });
    await eventually(async () => /ics_web_results_total\{status="ok"\} 1\b/.test(await (await fetch(`${web.url}/metrics`)).text()));
    expect(await image(launch.imageId)).toMatchObject({ status: 'done', label: 'first answer' });
    const replay = await openEvents(`${web.url}/api/batches/${launch.batchId}/events`).finished;
    expect(replay.map((e) => (e.data as ImageAnswer).label)).toEqual(['first answer', undefined]);
    await eventually(async () => {
      const d = await tiers.stack.resources.outputQueue.depth();
      return d.visible + d.inFlight === 0;
    });
    expect(await image(launch.imageId)).toMatchObject({ label: 'first answer' });
  });

  it('a result written to the bucket but never announced still answers classic, SSE and REST (RESULT_RECHECK_SECONDS)', async () => {
    const web = await tiers.start({ RESULT_RECHECK_SECONDS: '1', CLASSIC_TIMEOUT_SECONDS: '20' });
    const classic = fetch(`${web.url}/`, { method: 'POST', body: form('myfile', [datasetImage(31)]) });
    const [launch] = await takeLaunches(tiers.stack.resources, 1);
    const events = openEvents(`${web.url}/api/batches/${launch.batchId}/events`);
    expect(await image(launch.imageId)).toMatchObject({ status: 'queued' });

    // The worker died between its two writes: the bucket has the result, the queue never hears of it.
    await publishResult(tiers.stack.resources, resultFor(launch, 'unannounced answer'), { bucket: true });

    const started = Date.now();
    const answer = await classic;
    expect({ status: answer.status, body: await answer.text() }).toEqual({ status: 200, body: 'test_31:unannounced answer' });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await events.finished).map((e) => e.event)).toEqual(['result', 'done']);
    expect(await image(launch.imageId)).toMatchObject({ status: 'done', label: 'unannounced answer' });
    const metrics = await (await fetch(`${web.url}/metrics`)).text();
    expect(metrics).toMatch(/ics_web_results_total\{status="from_bucket"\} 1\b/);

    // The monitor announcing it late is a harmless duplicate.
    await publishResult(tiers.stack.resources, resultFor(launch, 'unannounced answer'), { queue: true });
    await eventually(async () => /ics_web_results_total\{status="duplicate"\} 1\b/.test(await (await fetch(`${web.url}/metrics`)).text()));
    expect(await image(launch.imageId)).toMatchObject({ label: 'unannounced answer' });
  });
});
