import { parseLaunchMessage, type LaunchMessage } from '@app/contracts';
import { eventually, startTestStack, type TestStack } from '@tools/testing';
import { closeTier, counts, datasetImage, form, publishResult, resultFor, startWebApp, type WebApp } from '../../../test/web-test-kit';

jest.setTimeout(60_000);

const KEY_A = 'alpha-key-0123456789abcdef0123456789abcdef';
const KEY_B = 'beta-key-0123456789abcdef0123456789abcdef0';

/**
 * Tenants share the launch queue and the fleet: each image's launch message
 * carries its tenant as MessageGroupId (SQS fair queues), and a tenant may
 * have at most TENANT_MAX_IMAGES_IN_FLIGHT images accepted and not answered.
 */
describe('fair share between tenants', () => {
  let stack: TestStack;
  let web: WebApp;

  beforeAll(async () => {
    stack = await startTestStack();
    web = await startWebApp(stack, { API_KEYS: `alpha=${KEY_A},beta=${KEY_B}`, TENANT_MAX_IMAGES_IN_FLIGHT: '3' });
  });
  afterAll(async () => {
    await closeTier(web);
    await stack?.stop();
  });

  const upload = (key: string, files: number[]) =>
    fetch(`${web.url}/api/images`, { method: 'POST', headers: { 'x-api-key': key }, body: form('images', files.map((i) => datasetImage(i))) });

  /** Takes n launch messages off the queue (the test playing the worker), each with the MessageGroupId it came with. */
  async function takeLaunches(n: number): Promise<{ launch: LaunchMessage; group?: string }[]> {
    const taken: { launch: LaunchMessage; group?: string }[] = [];
    await eventually(async () => {
      const got = await stack.resources.launchQueue.receive({ maxMessages: 10 });
      if (got.length > 0) await stack.resources.launchQueue.deleteBatch(got.map((m) => m.receiptHandle));
      taken.push(...got.map((m) => ({ launch: parseLaunchMessage(m.body), group: m.messageGroupId })));
      return taken.length >= n;
    }, 10_000);
    return taken;
  }

  /** Answers an image as a worker does, and waits until the web tier has the answer. */
  async function answer(launch: LaunchMessage): Promise<void> {
    await publishResult(stack.resources, resultFor(launch, 'tabby'));
    await eventually(async () => {
      const res = await fetch(`${web.url}/api/images/${launch.imageId}`, { headers: { 'x-api-key': KEY_A } });
      return res.ok && ((await res.json()) as { status: string }).status === 'done';
    }, 10_000);
  }

  it('sends each launch message with its tenant as MessageGroupId, and refuses (429) an upload past the tenant\'s images in flight, storing and queuing nothing', async () => {
    expect((await upload(KEY_A, [1, 2])).status).toBe(202);
    expect((await upload(KEY_B, [3])).status).toBe(202);
    const taken = await takeLaunches(3);
    expect(taken.map((t) => [t.launch.tenant, t.group]).sort()).toEqual([
      ['alpha', 'alpha'],
      ['alpha', 'alpha'],
      ['beta', 'beta'],
    ]);
    const alpha = taken.filter((t) => t.group === 'alpha').map((t) => t.launch);

    // alpha has 2 of its 3 in flight: two more files would pass the limit.
    const before = await counts(stack.resources);
    const refused = await upload(KEY_A, [4, 5]);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('10');
    expect(await refused.json()).toMatchObject({
      statusCode: 429,
      error: 'Too Many Requests',
      message: expect.stringContaining('TENANT_MAX_IMAGES_IN_FLIGHT'),
      reason: 'tenant-images-in-flight',
      imagesInFlight: 2,
      limit: 3,
    });
    expect(await counts(stack.resources)).toEqual(before);

    // One more fits; then alpha is at its limit and refused before anything is read.
    expect((await upload(KEY_A, [6])).status).toBe(202);
    const [third] = await takeLaunches(1);
    const beforeAtLimit = await counts(stack.resources);
    const atLimit = await upload(KEY_A, [7]);
    expect(atLimit.status).toBe(429);
    expect(await atLimit.json()).toMatchObject({ statusCode: 429, imagesInFlight: 3, limit: 3 });
    expect(await counts(stack.resources)).toEqual(beforeAtLimit);

    // Another tenant is not held back by alpha's images.
    expect((await upload(KEY_B, [8])).status).toBe(202);
    await takeLaunches(1);

    // An answer makes room again.
    await answer(alpha[0]);
    expect((await upload(KEY_A, [9])).status).toBe(202);
    const [fourth] = await takeLaunches(1);
    expect(fourth.group).toBe('alpha');
    for (const l of [alpha[1], third.launch, fourth.launch]) await answer(l);
  });
});
