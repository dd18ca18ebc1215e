/**
 * The built web tier (dist/apps/web-tier, page bundled by the build) as a real
 * process, driven by headless Chromium; results from the real classifier-worker.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { closeAllBrowsers, launchChromium, spawnApp, startTestStack, stopAllApps, until, WORKSPACE_ROOT, type RunningApp, type TestStack } from '@tools/testing';
import { counts, datasetImage, form, IMAGENET_LABELS, IMAGES_DIR, readEvents, startRealWorker } from '../test/web-test-kit';

jest.setTimeout(180_000);

export const SCREENSHOT = join(WORKSPACE_ROOT, 'test-artifacts/web-tier/upload-page.png');

/** Starts the built web tier on a free loopback port; resolves with its base URL. */
async function startBuiltWebTier(stack: TestStack, env: Record<string, string> = {}): Promise<{ run: RunningApp; url: string }> {
  const run = spawnApp('web-tier', { ...stack.env, LOG_LEVEL: 'info', PORT: '0', HOST: '127.0.0.1', OUTPUT_POLL_SECONDS: '1', ...env });
  const ready = await run.waitForLine(/web-tier ready on/, 60_000);
  const port = /:(\d+)\b/.exec(JSON.parse(ready).msg as string)?.[1];
  return { run, url: `http://127.0.0.1:${port}` };
}

/** One Chromium for the file's pages (a launch costs seconds of CPU); every browser is closed at the end. */
let chromium: Promise<Browser> | undefined;
const sharedChromium = () => (chromium ??= launchChromium());
afterAll(() => closeAllBrowsers());

describe('the upload page in headless Chromium, with the real worker', () => {
  let stack: TestStack;
  let web: { run: RunningApp; url: string };
  let worker: RunningApp;
  let browser: Browser;

  beforeAll(async () => {
    stack = await startTestStack();
    [web, worker, browser] = await Promise.all([startBuiltWebTier(stack), startRealWorker(stack, 'test-1'), sharedChromium()]);
  });
  afterAll(async () => {
    // Every app started above, even one a failed set-up never handed back, is stopped here (browsers at the file's end).
    const stopped = await stopAllApps();
    await stack?.stop();
    for (const s of stopped) expect(s).toEqual({ app: s.app, code: 0 });
  });

  it('uploads 5 images, shows their progress and fills in 5 labels live; keeps a screenshot', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
    await page.goto(web.url);
    expect(await page.title()).toBe('Image classification');
    // The fleet panel: queue depths read by the web tier; workers unknown without a launch controller.
    await page.waitForFunction(() => document.querySelector('#status-updated')?.textContent?.startsWith('updated'));
    expect(await page.textContent('#workers-running')).toBe('unknown');
    expect(await page.textContent('tr[data-queue="launch"] td')).toBe('0');

    const files = [0, 1, 2, 3, 4].map((i) => join(IMAGES_DIR, `test_${i}.JPEG`));
    await page.setInputFiles('#files', files);
    await page.waitForFunction(() => document.querySelectorAll('.card[data-status="done"]').length === 5, undefined, { timeout: 60_000 });

    // Each card: the top label, and the model's five best collapsed under it.
    const first = page.locator('.card').first();
    expect(await first.locator('.top5').isVisible()).toBe(false);
    await first.locator('summary').click();
    const top5 = await first.locator('.top5 li').evaluateAll((lis) =>
      lis.map((li) => ({ label: li.querySelector('.top5-label')?.textContent, confidence: li.querySelector('.top5-confidence')?.textContent, bar: (li.querySelector('meter') as HTMLMeterElement).value })),
    );
    expect(top5).toHaveLength(5);
    for (const p of top5) {
      expect(IMAGENET_LABELS).toContain(p.label);
      expect(p.confidence).toMatch(/^\d+\.\d %$/);
      expect(p.confidence).toBe(`${(p.bar * 100).toFixed(1)} %`);
    }
    const bars = top5.map((p) => p.bar);
    expect(bars).toEqual([...bars].sort((a, b) => b - a));
    expect(top5[0].label).toBe(await first.locator('.label').textContent());
    expect(top5[0].confidence).toBe(await first.locator('.confidence').textContent());

    const cards = await page.$$eval('.card', (els) =>
      els.map((el) => ({
        name: el.querySelector('.name')?.textContent,
        status: el.querySelector('.status')?.textContent,
        label: el.querySelector('.label')?.textContent,
        confidence: el.querySelector('.confidence')?.textContent,
        attempts: el.querySelector('.attempts')?.textContent,
        error: el.querySelector('.error')?.textContent,
        progress: (el.querySelector('progress') as HTMLProgressElement).value,
        thumbLoaded: (el.querySelector('img') as HTMLImageElement).naturalWidth,
      })),
    );
    expect(cards.map((c) => c.name)).toEqual(['test_0.JPEG', 'test_1.JPEG', 'test_2.JPEG', 'test_3.JPEG', 'test_4.JPEG']);
    for (const c of cards) {
      expect(c).toMatchObject({ status: 'done', attempts: 'attempt 1', error: '', progress: 100, thumbLoaded: 64 });
      expect(IMAGENET_LABELS).toContain(c.label);
      expect(c.confidence).toMatch(/^\d+\.\d %$/);
    }
    expect(await page.textContent('#summary')).toBe('5 labelled, 0 failed, 0 waiting, of 5');
    await page.waitForFunction(() => document.querySelector('#message')?.textContent === 'All 5 images have a result.');

    // The labels on the page are the worker's results as the API serves them.
    const logged = worker.lines.filter((l) => l.includes('"image classified"')).map((l) => JSON.parse(l) as { imageId: string });
    expect(logged).toHaveLength(5);
    const fromApi = await Promise.all(
      logged.map(async (l) => (await (await fetch(`${web.url}/api/images/${l.imageId}`)).json()) as { fileName: string; label: string; top5: { label: string; confidence: number }[] }),
    );
    for (const r of fromApi) expect(cards.find((c) => c.name === r.fileName)?.label).toBe(r.label);
    const firstFromApi = fromApi.find((r) => r.fileName === 'test_0.JPEG');
    expect(top5.map((p) => [p.label, p.bar])).toEqual(firstFromApi?.top5.map((p) => [p.label, p.confidence]));

    mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  });

  it('an image the worker cannot decode gets an error card that says why', async () => {
    const page = await browser.newPage();
    await page.goto(web.url);
    // A JPEG by its first bytes (the web tier accepts it), cut in half: the worker's decoder refuses it.
    const jpeg = readFileSync(join(IMAGES_DIR, 'test_5.JPEG'));
    // Its name is markup: the card shows it as text, nothing of it runs.
    const name = `<img src=x onerror="document.title='pwned'">.jpg`;
    await page.setInputFiles('#files', [{ name, mimeType: 'image/jpeg', buffer: jpeg.subarray(0, jpeg.length >> 1) }]);
    await page.waitForSelector('.card[data-status="error"]', { timeout: 60_000 });
    const card = page.locator('.card').first();
    expect(await card.locator('.name').textContent()).toBe(name);
    expect(await card.locator('.name img').count()).toBe(0);
    expect(await page.title()).toBe('Image classification');
    expect(await card.locator('.status').textContent()).toBe('error');
    expect(await card.locator('.error').textContent()).toMatch(/^Cannot be classified: image cannot be decoded \(jpeg\)/);
    expect(await card.locator('.prediction').isVisible()).toBe(false);
    expect(await page.textContent('#summary')).toBe('0 labelled, 1 failed, 0 waiting, of 1');
    await page.close();
  });

  it('a file that is not an image is refused on the page with the server\'s reason', async () => {
    const page = await browser.newPage();
    await page.goto(web.url);
    await page.setInputFiles('#files', [{ name: 'notes.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('plain text') }]);
    await page.waitForSelector('.card[data-status="failed"]');
    expect(await page.textContent('.card .error')).toMatch(/not a JPEG, PNG, WebP or GIF image/);
    expect(await page.textContent('#message')).toMatch(/^Upload refused \(415\)/);
    expect(await counts(stack.resources)).toMatchObject({ messages: 0 });
    await page.close();
  });

  it('Swagger UI\'s "Try it out" uploads images through POST /api/images', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    await page.goto(`${web.url}/docs`);
    const op = page.locator('#operations-images-uploadImages');
    await op.locator('.opblock-summary').click();
    await op.getByRole('button', { name: 'Try it out' }).click();
    await op.getByRole('button', { name: /Add (string )?item/ }).click();
    await op.locator('input[type="file"]').first().setInputFiles(join(IMAGES_DIR, 'test_7.JPEG'));
    await op.getByRole('button', { name: 'Execute' }).click();
    const status = op.locator('.live-responses-table .response .response-col_status').first();
    await status.waitFor();
    expect((await status.textContent())?.trim()).toBe('202');
    const body = JSON.parse((await op.locator('.live-responses-table .microlight').first().textContent()) ?? '{}');
    expect(body).toMatchObject({ batchId: expect.any(String), images: [{ fileName: 'test_7.JPEG', status: 'queued' }] });
    // And the worker classifies it.
    const events = await readEvents(`${web.url}/api/batches/${body.batchId}/events`);
    expect(events.at(-1)).toEqual({ event: 'done', data: { batchId: body.batchId, total: 1, done: 1, failed: 0 } });
    await page.close();
  });
});

describe('the page across the server\'s event-stream lifetime', () => {
  afterAll(() => stopAllApps());

  it('keeps following a batch whose results come after its stream ended, and shows each result once', async () => {
    const stack = await startTestStack();
    try {
      // Streams end after 1 s; no worker yet, so the results come several streams later.
      const [web, browser] = await Promise.all([startBuiltWebTier(stack, { SSE_MAX_LIFETIME_SECONDS: '1' }), sharedChromium()]);
      const page = await browser.newPage();
      const streams: string[] = [];
      page.on('request', (r) => r.url().includes('/events') && streams.push(r.headers()['last-event-id'] ?? ''));
      await page.goto(web.url);
      await page.setInputFiles('#files', [0, 1, 2].map((i) => join(IMAGES_DIR, `test_${i}.JPEG`)));
      await page.waitForFunction(() => document.querySelectorAll('.card[data-status="queued"]').length === 3);
      // The page opens the stream again when the server ends it.
      await until('the page to open a second event stream', () => streams.length >= 2, 30_000);
      await startRealWorker(stack, 'late-1');
      await page.waitForFunction(() => document.querySelectorAll('.card[data-status="done"]').length === 3, undefined, { timeout: 90_000 });
      expect(await page.textContent('#summary')).toBe('3 labelled, 0 failed, 0 waiting, of 3');
      await page.waitForFunction(() => document.querySelector('#message')?.textContent === 'All 3 images have a result.');
      for (const label of await page.$$eval('.card .label', (els) => els.map((e) => e.textContent))) expect(IMAGENET_LABELS).toContain(label);
      await page.close();
    } finally {
      await stopAllApps();
      await stack.stop();
    }
  });
});

describe('the built web tier on SIGTERM', () => {
  it('releases a held classic request (503) and an open event stream, and exits 0', async () => {
    const stack = await startTestStack();
    try {
      const web = await startBuiltWebTier(stack);
      const held = fetch(`${web.url}/`, { method: 'POST', body: form('myfile', [datasetImage(8)]) });
      const up = await fetch(`${web.url}/api/images`, { method: 'POST', body: form('images', [datasetImage(9)]) });
      const { batchId } = (await up.json()) as { batchId: string };
      const stream = readEvents(`${web.url}/api/batches/${batchId}/events`);
      // Both requests are in the tier: the classic image is queued beside the batch's, and the stream is open.
      await until('the classic request held and the stream open', async () => {
        const metrics = await (await fetch(`${web.url}/metrics`)).text();
        return (await counts(stack.resources)).messages === 2 && /^ics_web_sse_streams 1$/m.test(metrics);
      });
      const started = Date.now();
      expect(await web.run.stop()).toBe(0);
      expect(Date.now() - started).toBeLessThan(5000);
      const res = await held;
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ statusCode: 503, message: expect.stringMatching(/shutting down; ask later at \/api\/images\//) });
      expect(await stream).toEqual([]);
    } finally {
      await stopAllApps();
      await stack.stop();
    }
  });
});
