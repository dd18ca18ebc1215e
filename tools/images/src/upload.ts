import type { Photo } from './photos';

export interface PhotoLabel {
  fileName: string;
  imageId: string;
  status: string;
  label?: string;
}

interface BatchView {
  finished: boolean;
  images: { imageId: string; fileName: string; status: string; label?: string }[];
}

/**
 * One multipart upload of every photo to the web tier's REST API, then its batch view polled
 * until every image has its answer (or the time is up: then what has arrived so far).
 * `seconds` runs from the upload to the last answer.
 */
export async function classifyThroughWebTier(
  webUrl: string,
  photos: Photo[],
  timeoutMs: number,
  log: (line: string) => void,
): Promise<{ seconds: number; labels: PhotoLabel[] }> {
  const form = new FormData();
  for (const p of photos) form.append('images', new Blob([new Uint8Array(p.bytes)], { type: 'image/jpeg' }), p.name);
  const started = Date.now();
  const res = await fetch(`${webUrl}/api/images`, { method: 'POST', body: form });
  const body = await res.text();
  if (res.status !== 202) throw new Error(`upload: HTTP ${res.status} ${body.slice(0, 300)}`);
  const { batchId } = JSON.parse(body) as { batchId: string };
  log(`uploaded: batch ${batchId}; waiting for ${photos.length} labels (the launch controller starts workers through the edge's EC2 API)`);
  const end = started + timeoutMs;
  let done = -1;
  for (;;) {
    const view = (await (await fetch(`${webUrl}/api/batches/${batchId}`)).json()) as BatchView;
    const labels = view.images.map((i) => ({ fileName: i.fileName, imageId: i.imageId, status: i.status, label: i.label }));
    const answered = labels.filter((l) => l.label).length;
    if (answered !== done) {
      done = answered;
      log(`  ${answered}/${photos.length} labelled after ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
    if (view.finished || Date.now() > end) return { seconds: (Date.now() - started) / 1000, labels };
    await new Promise((r) => setTimeout(r, 500));
  }
}
