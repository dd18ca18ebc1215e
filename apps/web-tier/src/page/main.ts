/**
 * The upload page: pick or drop images, watch each upload's progress, and see
 * the results fill in live (server-sent events read through fetch, so that an
 * API key can travel in a header). Plain DOM, bundled by esbuild at build time.
 */
import { IcsClient, type ImageResult, type UploadAnswer } from '@app/api-client';

/** Files per upload request: the server's MAX_FILES, which it writes into the page. */
const FILES_PER_REQUEST = Math.max(1, Number(document.querySelector<HTMLMetaElement>('meta[name="ics-max-files"]')?.content) || 100);
const STATUS_EVERY_MS = 2000;

const $ = <T extends HTMLElement>(sel: string, root: ParentNode = document) => root.querySelector(sel) as T;

interface Card {
  file: File;
  el: HTMLElement;
  imageId?: string;
}

const cards = new Map<string, Card>();
const totals = { files: 0, done: 0, failed: 0 };

function apiKey(): string {
  return localStorage.getItem('ics-api-key') ?? '';
}

/** The API on this page's own origin, with the key the user gave. */
function client(): IcsClient {
  return new IcsClient({ url: '', apiKey: apiKey() });
}

function say(text: string, bad = false): void {
  const m = $('#message');
  m.textContent = text;
  m.classList.toggle('bad', bad);
}

function summary(): void {
  $('#summary').textContent = totals.files
    ? `${totals.done} labelled, ${totals.failed} failed, ${totals.files - totals.done - totals.failed} waiting, of ${totals.files}`
    : '';
}

function newCard(file: File): Card {
  const tpl = $<HTMLTemplateElement>('#card');
  const el = (tpl.content.firstElementChild as HTMLElement).cloneNode(true) as HTMLElement;
  $<HTMLImageElement>('img', el).src = URL.createObjectURL(file);
  $<HTMLImageElement>('img', el).alt = file.name;
  $('.name', el).textContent = file.name;
  $('.name', el).title = file.name;
  $('.status', el).textContent = 'uploading';
  $('#grid').append(el);
  return { file, el };
}

function setStatus(card: Card, status: string): void {
  card.el.dataset['status'] = status;
  $('.status', card.el).textContent = status;
}

function percent(confidence: number | undefined): string {
  return confidence !== undefined ? `${(confidence * 100).toFixed(1)} %` : '';
}

/** One line of the top-5 list: label, percentage and a bar; text only, never markup from the model. */
function predictionItem(p: { label: string; confidence: number }): HTMLLIElement {
  const li = document.createElement('li');
  const label = document.createElement('span');
  label.className = 'top5-label';
  label.textContent = p.label;
  const value = document.createElement('span');
  value.className = 'top5-confidence';
  value.textContent = percent(p.confidence);
  const bar = document.createElement('meter');
  bar.min = 0;
  bar.max = 1;
  bar.value = p.confidence;
  li.append(label, value, bar);
  return li;
}

function showResult(card: Card, r: ImageResult): void {
  setStatus(card, r.status);
  if (r.status === 'done') {
    $('.label', card.el).textContent = r.label ?? '';
    $('.confidence', card.el).textContent = percent(r.confidence);
    // The top one is the summary; the five best are under it, collapsed.
    $('.top5', card.el).replaceChildren(...(r.top5 ?? []).map(predictionItem));
  }
  if (r.attempts !== undefined) $('.attempts', card.el).textContent = `attempt ${r.attempts}`;
  if (r.error) {
    const what = r.error.permanent ? 'Cannot be classified' : `Gave up after ${r.attempts ?? '?'} attempt${r.attempts === 1 ? '' : 's'}`;
    $('.error', card.el).textContent = `${what}: ${r.error.reason}`;
  }
}

function fail(card: Card, reason: string): void {
  setStatus(card, 'failed');
  $('.error', card.el).textContent = reason;
  totals.failed++;
}

/** One multipart request with progress per file (the body carries the files in order). */
function upload(batch: Card[]): Promise<{ status: number; body: unknown }> {
  const form = new FormData();
  for (const c of batch) form.append('images', c.file, c.file.name);
  const sizes = batch.map((c) => c.file.size);
  const sum = sizes.reduce((a, b) => a + b, 0) || 1;
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/images');
    for (const [k, v] of Object.entries(client().headers())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      // Bytes sent, scaled from the whole body (with its part headers) to the files alone.
      const sent = (e.loaded / e.total) * sum;
      let start = 0;
      batch.forEach((c, i) => {
        const part = sizes[i] ? Math.min(1, Math.max(0, (sent - start) / sizes[i])) : 1;
        $<HTMLProgressElement>('progress', c.el).value = Math.round(part * 100);
        start += sizes[i];
      });
    };
    xhr.onload = () => {
      let body: unknown = xhr.responseText;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON: keep the text */
      }
      resolve({ status: xhr.status, body });
    };
    xhr.onerror = () => reject(new Error('network error'));
    xhr.send(form);
  });
}

/** The batch's results as they come, across the server's stream lifetime (reconnects resume after the last event seen). */
async function follow(batchId: string): Promise<void> {
  for await (const ev of client().followBatch(batchId)) {
    if (ev.type === 'result') {
      const r: ImageResult = ev.result;
      const card = cards.get(r.imageId);
      if (!card || card.el.dataset['status'] === 'done' || card.el.dataset['status'] === 'error') continue;
      showResult(card, r);
      if (r.status === 'done') totals.done++;
      else totals.failed++;
      summary();
    } else {
      return;
    }
  }
}

async function send(files: File[]): Promise<void> {
  if (files.length === 0) return;
  const all = files.map(newCard);
  totals.files += all.length;
  summary();
  say(`Uploading ${files.length} file${files.length === 1 ? '' : 's'}…`);
  const follows: Promise<void>[] = [];
  for (let i = 0; i < all.length; i += FILES_PER_REQUEST) {
    const batch = all.slice(i, i + FILES_PER_REQUEST);
    let answer: { status: number; body: unknown };
    try {
      answer = await upload(batch);
    } catch (err) {
      batch.forEach((c) => fail(c, (err as Error).message));
      summary();
      say(`Upload failed: ${(err as Error).message}`, true);
      continue;
    }
    if (answer.status !== 202) {
      const msg = (answer.body as { message?: string })?.message ?? `HTTP ${answer.status}`;
      batch.forEach((c) => fail(c, msg));
      summary();
      say(`Upload refused (${answer.status}): ${msg}`, true);
      continue;
    }
    const body = answer.body as UploadAnswer;
    // Images come back in upload order; files that failed (storage or queue trouble) are listed apart.
    const partial = (body.failed ?? []).length > 0;
    let j = 0;
    for (const c of batch) {
      const img = body.images[j];
      if (img && (!partial || img.fileName === c.file.name)) {
        c.imageId = img.imageId;
        cards.set(img.imageId, c);
        setStatus(c, 'queued');
        j++;
      } else {
        fail(c, body.failed?.find((f) => f.fileName === c.file.name)?.reason ?? 'not accepted');
      }
    }
    summary();
    say(`Batch ${body.batchId.slice(0, 8)}: ${body.images.length} queued${partial ? `, ${body.failed?.length} failed` : ''}.`);
    follows.push(follow(body.batchId).catch((err: unknown) => say(`Lost the live results: ${(err as Error).message}`, true)));
  }
  await Promise.all(follows);
  if (follows.length > 0 && totals.done + totals.failed === totals.files) {
    say(`All ${totals.files} image${totals.files === 1 ? ' has' : 's have'} a result.`);
  }
}

function cell(v: number | undefined | null): string {
  return v === undefined || v === null ? '–' : String(v);
}

async function refreshStatus(): Promise<void> {
  try {
    const s = await client().status();
    for (const key of ['running', 'free', 'pending'] as const) {
      const dd = $(`#workers-${key}`);
      dd.textContent = s.workers ? String(s.workers[key]) : 'unknown';
      dd.classList.toggle('unknown', !s.workers);
    }
    for (const q of ['launch', 'monitor', 'output'] as const) {
      const d = s.queues[q];
      const tds = document.querySelectorAll(`tr[data-queue="${q}"] td`);
      [d?.visible, d?.inFlight, d?.delayed].forEach((v, i) => (tds[i].textContent = cell(v)));
    }
    $('#status-updated').textContent = `updated ${new Date(s.updatedAt).toLocaleTimeString()}`;
  } catch (err) {
    $('#status-updated').textContent = `status unavailable (${(err as Error).message})`;
  }
}

function init(): void {
  const input = $<HTMLInputElement>('#files');
  const form = $<HTMLFormElement>('#upload');
  const key = $<HTMLInputElement>('#api-key');
  key.value = apiKey();
  key.addEventListener('change', () => localStorage.setItem('ics-api-key', key.value.trim()));
  input.addEventListener('change', () => {
    void send(Array.from(input.files ?? []));
    input.value = '';
  });
  form.addEventListener('submit', (e) => e.preventDefault());
  for (const t of ['dragenter', 'dragover']) {
    form.addEventListener(t, (e) => {
      e.preventDefault();
      form.classList.add('over');
    });
  }
  for (const t of ['dragleave', 'drop']) form.addEventListener(t, () => form.classList.remove('over'));
  form.addEventListener('drop', (e) => {
    e.preventDefault();
    void send(Array.from((e as DragEvent).dataTransfer?.files ?? []));
  });
  void refreshStatus();
  setInterval(() => void refreshStatus(), STATUS_EVERY_MS);
}

init();
