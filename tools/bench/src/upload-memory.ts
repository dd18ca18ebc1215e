/**
 * Memory of the built web tier under large uploads (does it stay bounded?):
 *
 *   npx tsx --tsconfig tsconfig.base.json tools/bench/src/upload-memory.ts \
 *     [--files 100] [--mib 10] [--requests 4]
 *
 * Starts the embedded S3/SQS and dist/apps/web-tier (`npx nx build web-tier`)
 * at its default limits (MAX_FILES 100, MAX_FILE_BYTES 10 MiB), then sends
 * --requests uploads at once, each of --files JPEG-signed files of --mib MiB,
 * generated as they are sent (the client holds no upload). Prints the bytes
 * sent, the web tier's own count of upload bytes held at once
 * (ics_web_upload_buffered_peak_bytes) and its resident memory: before, and
 * the high-water mark (VmHWM from /proc, so no peak is missed between samples).
 */
import { EXIT, parseCommandLine, runMain, writeJsonOutput } from '@app/command-line';
import { residentMemory, spawnApp, startTestStack } from '@tools/testing';

const values = parseCommandLine({
  name: 'npx tsx --tsconfig tsconfig.base.json tools/bench/src/upload-memory.ts',
  summary: "Memory of the built web tier under large uploads: concurrent requests of many large files, the tier's RSS before, at peak and after.",
  flags: {
    files: { type: 'string', description: 'files per request', default: '100', number: { integer: true, min: 1 } },
    mib: { type: 'string', description: 'MiB per file', default: '10', number: { min: 0.001 } },
    requests: { type: 'string', description: 'requests at once', default: '4', number: { integer: true, min: 1 } },
    json: { type: 'string', value: 'OUT', description: 'write the figures as JSON' },
  },
});
const FILES = Number(values.files);
const SIZE = Number(values.mib) * 1024 * 1024;
const REQUESTS = Number(values.requests);
const BOUNDARY = 'bench-boundary-5c1e';

/** The web tier's resident memory now and at its peak, bytes. */
function memory(pid: number): { rss: number; hwm: number } {
  const memory = residentMemory(pid);
  if (!memory) throw new Error(`the web tier (pid ${pid}) is gone, or this is not Linux`);
  return { rss: memory.rssBytes, hwm: memory.peakBytes };
}

function body(request: number): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i === FILES) {
        controller.enqueue(Buffer.from(`--${BOUNDARY}--\r\n`));
        controller.close();
        return;
      }
      const bytes = Buffer.alloc(SIZE, (request * 31 + i) % 251);
      bytes.set([0xff, 0xd8, 0xff, 0xe0], 0);
      controller.enqueue(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="images"; filename="r${request}-f${i}.jpg"\r\n\r\n`));
      for (let at = 0; at < SIZE; at += 256 * 1024) controller.enqueue(bytes.subarray(at, at + 256 * 1024));
      controller.enqueue(Buffer.from('\r\n'));
      i++;
    },
  });
}

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

runMain('upload-memory', async () => {
  const stack = await startTestStack();
  const web = spawnApp('web-tier', { ...stack.env, LOG_LEVEL: 'info', PORT: '0', HOST: '127.0.0.1', OUTPUT_POLL_SECONDS: '1' });
  try {
    const ready = await web.waitForLine(/web-tier ready on/, 60_000);
    const port = /:(\d+)\b/.exec(JSON.parse(ready).msg as string)?.[1];
    const pid = web.process.pid as number;
    const url = `http://127.0.0.1:${port}`;
    await fetch(`${url}/health`);
    const before = memory(pid);
    const started = Date.now();
    const statuses = await Promise.all(
      Array.from({ length: REQUESTS }, (_, r) =>
        fetch(`${url}/api/images`, {
          method: 'POST',
          body: body(r),
          headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
          duplex: 'half',
        } as RequestInit).then(async (res) => `${res.status}${res.ok ? '' : ` ${await res.text()}`}`),
      ),
    );
    const seconds = (Date.now() - started) / 1000;
    const after = memory(pid);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const peak = Number(/^ics_web_upload_buffered_peak_bytes (\d+)/m.exec(metrics)?.[1] ?? NaN);
    const sent = REQUESTS * FILES * SIZE;
    console.log(`uploads: ${REQUESTS} request(s) at once × ${FILES} files × ${mib(SIZE)} = ${mib(sent)} in ${seconds.toFixed(1)} s; answers: ${statuses.join(', ')}`);
    console.log(`upload bytes held at once (ics_web_upload_buffered_peak_bytes): ${mib(peak)} (bound: ${REQUESTS} × MAX_FILE_BYTES = ${mib(REQUESTS * SIZE)})`);
    console.log(`web tier RSS: ${mib(before.rss)} before, peak ${mib(after.hwm)} (VmHWM), ${mib(after.rss)} after`);
    writeJsonOutput(values.json, { requests: REQUESTS, files: FILES, fileBytes: SIZE, seconds, statuses, bufferedPeakBytes: peak, rss: { before: before.rss, peak: after.hwm, after: after.rss } });
  } finally {
    await web.stop();
    await stack.stop();
  }
  return EXIT.done;
});
