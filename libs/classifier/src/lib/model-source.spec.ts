import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODEL_DIR } from '@tools/testing';
import { Classifier } from './classifier';
import { ModelDownloadError } from './errors';
import { silentLogger } from './logger';
import { downloadModel, resolveModelSource } from './model-source';

/** Serves the shared model under /models/mobilenet/; `truncate` cuts weight files short. */
function modelServer(options: { truncate?: boolean; metadata?: object } = {}) {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const name = (req.url ?? '').replace(/^\/models\/mobilenet\//, '');
    if (name === 'metadata.json' && options.metadata) {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(options.metadata));
      return;
    }
    if (!/^[\w.-]+$/.test(name) || !existsSync(join(MODEL_DIR, name))) {
      res.statusCode = 404;
      res.end('not found');
      return;
    }
    let body = readFileSync(join(MODEL_DIR, name));
    if (options.truncate && name.startsWith('group')) body = body.subarray(0, body.length - 100);
    res.end(body);
  });
  return new Promise<{ url: string; requests: string[]; close: () => Promise<void> }>((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}/models/mobilenet/model.json`,
        requests,
        close: () => new Promise((r) => server.close(() => r())),
      });
    }),
  );
}

describe('MODEL_URL', () => {
  it('downloads model.json and its weights once into the cache, verified, and re-uses them', async () => {
    const srv = await modelServer();
    const cacheDir = mkdtempSync(join(tmpdir(), 'model-cache-'));
    try {
      const first = await downloadModel(srv.url, cacheDir, silentLogger);
      expect(first).toMatchObject({ cached: false, url: srv.url, name: 'mobilenet', weightBytes: 1875348 });
      expect(srv.requests).toEqual([
        '/models/mobilenet/model.json',
        '/models/mobilenet/group1-shard1of1',
        '/models/mobilenet/metadata.json', // optional: a 404 is fine
      ]);
      expect(readdirSync(cacheDir)).toHaveLength(1); // no partial folders left behind
      const again = await downloadModel(srv.url, cacheDir, silentLogger);
      expect(again).toMatchObject({ cached: true, modelJsonPath: first.modelJsonPath });
      expect(srv.requests).toHaveLength(3);
    } finally {
      await srv.close();
    }
  });

  it('classifies with a downloaded model and its metadata.json', async () => {
    const srv = await modelServer({ metadata: { name: 'mobilenet-from-url', inputRange: [0, 1] } });
    try {
      const c = await Classifier.create({ modelUrl: srv.url, modelCacheDir: mkdtempSync(join(tmpdir(), 'model-cache-')), thread: false });
      try {
        expect(c.model).toBe('mobilenet-from-url');
        const photo = readFileSync(join(MODEL_DIR, '../../datasets/imagenet-sample/images/n01440764_tench.JPEG'));
        expect((await c.classify(photo)).label).toBe('tench');
      } finally {
        await c.close();
      }
    } finally {
      await srv.close();
    }
  }, 30_000);

  it('refuses weights whose size does not match the manifest, keeping nothing', async () => {
    const srv = await modelServer({ truncate: true });
    const cacheDir = mkdtempSync(join(tmpdir(), 'model-cache-'));
    try {
      const err = await downloadModel(srv.url, cacheDir, silentLogger).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ModelDownloadError);
      expect((err as Error).message).toMatch(/^cannot download the model from http:\/\/127\.0\.0\.1:\d+\/models\/mobilenet\/model\.json: .*takes 1875248 bytes, the manifest says 1875348/);
      expect(readdirSync(cacheDir)).toEqual([]);
    } finally {
      await srv.close();
    }
  });

  it('names the URL when the server cannot be reached', async () => {
    const srv = await modelServer();
    await srv.close(); // nothing listens on that port now
    const err = await resolveModelSource({ modelUrl: srv.url, cacheDir: mkdtempSync(join(tmpdir(), 'c-')) }, silentLogger).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ModelDownloadError);
    expect(err).toMatchObject({ url: srv.url });
    expect((err as Error).message).toBe(`cannot download the model from ${srv.url}: ECONNREFUSED`);
  });

  it('names the URL and the status for an HTTP error', async () => {
    const srv = await modelServer();
    try {
      const missing = srv.url.replace('model.json', 'nope/model.json');
      await expect(downloadModel(missing, mkdtempSync(join(tmpdir(), 'c-')), silentLogger)).rejects.toThrow(
        `cannot download the model from ${missing}: HTTP 404 Not Found`,
      );
    } finally {
      await srv.close();
    }
  });

  it('prefers MODEL_DIR when both are set', async () => {
    const warnings: string[] = [];
    const source = await resolveModelSource(
      { modelDir: MODEL_DIR, modelUrl: 'http://127.0.0.1:9/model.json' },
      { info: () => undefined, warn: (_f, m) => warnings.push(m) },
    );
    expect(source.name).toBe('mobilenet_v1_025_224');
    expect(warnings).toEqual(['MODEL_DIR is set: MODEL_URL is ignored']);
  });
});
