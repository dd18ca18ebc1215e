import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@app/config';
import { MODEL_DIR } from '@tools/testing/files';
import {
  makeTestCertificate,
  modelFiles,
  resolveInChild,
  stopModelResolver,
  startHttpsModelServer,
  type HttpsModelServer,
  type Route,
  type TestCertificate,
} from '../testing/https-model-server';
import { sha256Hex } from './checksums';
import { ModelDownloadError, ModelIntegrityError } from './errors';
import { silentLogger } from './logger';
import { checkModelUrl, resolveModelSource, weightUrl } from './model-source';

// MODEL_URL is exercised against a real HTTPS server on 127.0.0.1 with a certificate made for
// this run; the download runs in a child process that trusts it through NODE_EXTRA_CA_CERTS,
// so the production code runs as it does on a worker, TLS verification on.
const PREFIX = '/models/mobilenet/';
const SHARD = 'group1-shard1of1';
const modelJson = readFileSync(join(MODEL_DIR, 'model.json'));
const MODEL_SHA256 = sha256Hex(modelJson);
const cacheDir = () => mkdtempSync(join(tmpdir(), 'model-cache-'));
const jsonWith = (change: (j: { weightsManifest: { paths: string[] }[]; userDefinedMetadata?: object }) => void) => {
  const j = JSON.parse(modelJson.toString('utf8'));
  change(j);
  return Buffer.from(JSON.stringify(j));
};

let cert: TestCertificate;
const servers: HttpsModelServer[] = [];
async function serve(files: Record<string, Buffer> = modelFiles(MODEL_DIR, ['model.json', SHARD], PREFIX), routes: Record<string, Route> = {}) {
  const s = await startHttpsModelServer(cert, files, routes);
  servers.push(s);
  return s;
}

beforeAll(async () => {
  cert = await makeTestCertificate();
}, 30_000);
afterAll(() => stopModelResolver());
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('MODEL_URL over https', () => {
  it('downloads model.json and its weights once into the cache, verified, and re-uses them', async () => {
    const srv = await serve();
    const url = `${srv.origin}${PREFIX}model.json`;
    const dir = cacheDir();
    const first = await resolveInChild({ modelUrl: url, cacheDir: dir }, cert);
    expect(first).toMatchObject({ ok: true, source: { cached: false, url, name: 'mobilenet', weightBytes: 1875348, modelSha256: MODEL_SHA256 } });
    // metadata.json and SHA256SUMS are optional: a 404 is fine.
    expect(srv.requests).toEqual([`${PREFIX}model.json`, `${PREFIX}${SHARD}`, `${PREFIX}metadata.json`, `${PREFIX}SHA256SUMS`]);
    expect(readdirSync(dir)).toHaveLength(1); // no partial folders left behind
    const again = await resolveInChild({ modelUrl: url, cacheDir: dir }, cert);
    expect(again).toMatchObject({ ok: true, source: { cached: true } });
    expect(srv.requests).toHaveLength(4);
  }, 60_000);

  it('loads the pinned model when MODEL_SHA256 matches, and refuses another before fetching any weight', async () => {
    const srv = await serve();
    const url = `${srv.origin}${PREFIX}model.json`;
    const pinned = await resolveInChild({ modelUrl: url, cacheDir: cacheDir(), modelSha256: MODEL_SHA256.toUpperCase() }, cert);
    expect(pinned).toMatchObject({ ok: true, source: { modelSha256: MODEL_SHA256 } });
    srv.requests.length = 0;
    const wrong = 'ab'.repeat(32);
    const dir = cacheDir();
    const refused = await resolveInChild({ modelUrl: url, cacheDir: dir, modelSha256: wrong }, cert);
    expect(refused).toMatchObject({
      ok: false,
      error: {
        name: 'ModelIntegrityError',
        message: `MODEL_SHA256 does not match: ${url}: model.json has SHA-256 ${MODEL_SHA256}, MODEL_SHA256 is ${wrong}; refusing to load it`,
      },
    });
    expect(srv.requests).toEqual([`${PREFIX}model.json`]);
    expect(readdirSync(dir)).toEqual([]);
  }, 60_000);

  it('refuses weights whose contents differ from the hashes in the pinned model.json (same size)', async () => {
    const shard = readFileSync(join(MODEL_DIR, SHARD));
    const json = jsonWith((j) => (j.userDefinedMetadata = { weightsSha256: { [SHARD]: sha256Hex(shard) } }));
    const tampered = Buffer.from(shard);
    tampered[1000] ^= 0xff;
    const srv = await serve({ [`${PREFIX}model.json`]: json, [`${PREFIX}${SHARD}`]: tampered });
    const url = `${srv.origin}${PREFIX}model.json`;
    const dir = cacheDir();
    const r = await resolveInChild({ modelUrl: url, cacheDir: dir, modelSha256: sha256Hex(json) }, cert);
    expect(r).toMatchObject({ ok: false, error: { name: 'ModelIntegrityError' } });
    expect(r.ok === false && r.error.message).toMatch(new RegExp(`${SHARD} has SHA-256 ${sha256Hex(tampered)}, expected ${sha256Hex(shard)}`));
    expect(readdirSync(dir)).toEqual([]);
  }, 60_000);

  it('checks the weights against a SHA256SUMS served beside the model', async () => {
    const files = modelFiles(MODEL_DIR, ['model.json', SHARD], PREFIX);
    files[`${PREFIX}SHA256SUMS`] = Buffer.from(`${'0'.repeat(64)}  ${SHARD}\n`);
    const srv = await serve(files);
    const r = await resolveInChild({ modelUrl: `${srv.origin}${PREFIX}model.json`, cacheDir: cacheDir() }, cert);
    expect(r).toMatchObject({ ok: false, error: { name: 'ModelIntegrityError' } });
    expect(r.ok === false && r.error.message).toContain(`expected ${'0'.repeat(64)}`);
  }, 60_000);

  it('follows a redirect within the origin and refuses one to another origin', async () => {
    const other = await serve();
    const files = modelFiles(MODEL_DIR, ['model.json'], PREFIX);
    files['/blobs/shard'] = readFileSync(join(MODEL_DIR, SHARD));
    const srv = await serve(files, {
      [`${PREFIX}${SHARD}`]: (_req, res) => res.writeHead(302, { location: '/blobs/shard' }).end(),
      '/away/model.json': (_req, res) => res.writeHead(302, { location: `${other.origin}${PREFIX}model.json` }).end(),
    });
    const same = await resolveInChild({ modelUrl: `${srv.origin}${PREFIX}model.json`, cacheDir: cacheDir() }, cert);
    expect(same).toMatchObject({ ok: true, source: { weightBytes: 1875348 } });
    expect(srv.requests).toContain('/blobs/shard');
    const away = await resolveInChild({ modelUrl: `${srv.origin}/away/model.json`, cacheDir: cacheDir() }, cert);
    expect(away).toMatchObject({
      ok: false,
      error: {
        name: 'ModelDownloadError',
        message: `cannot download the model from ${srv.origin}/away/model.json: ${srv.origin}/away/model.json redirects to another origin (${other.origin}): refused`,
      },
    });
    expect(other.requests).toEqual([]);
  }, 60_000);

  it('refuses a redirect of a weight file to another origin', async () => {
    const other = await serve();
    const srv = await serve(modelFiles(MODEL_DIR, ['model.json'], PREFIX), {
      [`${PREFIX}${SHARD}`]: (_req, res) => res.writeHead(301, { location: `${other.origin}${PREFIX}${SHARD}` }).end(),
    });
    const r = await resolveInChild({ modelUrl: `${srv.origin}${PREFIX}model.json`, cacheDir: cacheDir() }, cert);
    expect(r.ok === false && r.error.message).toContain(`${srv.origin}${PREFIX}${SHARD} redirects to another origin (${other.origin}): refused`);
    expect(other.requests).toEqual([]);
  }, 60_000);

  it.each([
    ['a UNC-like path', '\\\\evil.host\\x'],
    ['an absolute URL to another host', 'https://evil.host/x.bin'],
    ['a protocol-relative URL', '//evil.host/x.bin'],
    ['a path out of the folder', '../../x.bin'],
    ['an encoded ..', '%2e%2e/x.bin'],
  ])('refuses a weight path that leaves the model origin: %s', async (_what, path) => {
    const srv = await serve({ [`${PREFIX}model.json`]: jsonWith((j) => (j.weightsManifest[0].paths = [path])) });
    const r = await resolveInChild({ modelUrl: `${srv.origin}${PREFIX}model.json`, cacheDir: cacheDir() }, cert);
    expect(r).toMatchObject({ ok: false });
    expect(r.ok === false && r.error.message).toContain(`weight path "${path}" must be a file beside model.json`);
    expect(srv.requests).toEqual([`${PREFIX}model.json`]);
  }, 60_000);

  it('refuses weights whose size does not match the manifest, keeping nothing', async () => {
    const files = modelFiles(MODEL_DIR, ['model.json', SHARD], PREFIX);
    files[`${PREFIX}${SHARD}`] = files[`${PREFIX}${SHARD}`].subarray(0, -100);
    const srv = await serve(files);
    const dir = cacheDir();
    const r = await resolveInChild({ modelUrl: `${srv.origin}${PREFIX}model.json`, cacheDir: dir }, cert);
    expect(r.ok === false && r.error.message).toMatch(/takes 1875248 bytes, the manifest says 1875348/);
    expect(readdirSync(dir)).toEqual([]);
  }, 60_000);

  it('names the URL and the status for an HTTP error', async () => {
    const srv = await serve();
    const missing = `${srv.origin}/nope/model.json`;
    const r = await resolveInChild({ modelUrl: missing, cacheDir: cacheDir() }, cert);
    expect(r).toMatchObject({ ok: false, error: { message: `cannot download the model from ${missing}: HTTP 404 Not Found` } });
  }, 60_000);

  it('verifies the server: a certificate the process does not trust is refused', async () => {
    const srv = await serve();
    const url = `${srv.origin}${PREFIX}model.json`;
    const err = await resolveModelSource({ modelUrl: url, cacheDir: cacheDir() }, silentLogger).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelDownloadError);
    expect((err as Error).message).toMatch(new RegExp(`^cannot download the model from ${url}: (DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)`));
    expect(srv.requests).toEqual([]);
  });

  it('names the URL when the server cannot be reached', async () => {
    const srv = await serve();
    await srv.close(); // nothing listens on that port now
    const url = `${srv.origin}${PREFIX}model.json`;
    const err = await resolveModelSource({ modelUrl: url, cacheDir: cacheDir() }, silentLogger).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ModelDownloadError', url, message: `cannot download the model from ${url}: ECONNREFUSED` });
  });
});

describe('MODEL_URL rules', () => {
  it('refuses plain http, in the library and in the configuration, with a clear message', async () => {
    const url = 'http://127.0.0.1:9/models/m/model.json';
    const err = await resolveModelSource({ modelUrl: url, cacheDir: cacheDir() }, silentLogger).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelDownloadError);
    expect((err as Error).message).toBe(
      `cannot download the model from ${url}: MODEL_URL must be an https: URL (got http:): a model fetched over plain HTTP can be replaced on the way`,
    );
    const queues = { LAUNCH_QUEUE_URL: 'http://127.0.0.1:4566/q/l', MONITOR_QUEUE_URL: 'http://127.0.0.1:4566/q/m', OUTPUT_QUEUE_URL: 'http://127.0.0.1:4566/q/o' };
    expect(() => loadConfig({ ...queues, MODEL_URL: url })).toThrow(/MODEL_URL must be an https: URL/);
    expect(() => loadConfig({ ...queues, MODEL_SHA256: 'abc' })).toThrow(/MODEL_SHA256 must be the 64 hex digits of a SHA-256/);
    const ok = loadConfig({ ...queues, MODEL_URL: 'https://models.example.com/m/model.json', MODEL_SHA256: MODEL_SHA256.toUpperCase() });
    expect(ok.worker).toMatchObject({ modelUrl: 'https://models.example.com/m/model.json', modelSha256: MODEL_SHA256 });
  });

  it('resolves weight URLs only beside model.json on its origin', () => {
    const base = checkModelUrl('https://models.example.com/a/b/model.json');
    expect(weightUrl('group1-shard1of2.bin', base).href).toBe('https://models.example.com/a/b/group1-shard1of2.bin');
    expect(weightUrl('w/shard.bin', base).href).toBe('https://models.example.com/a/b/w/shard.bin');
    for (const bad of ['\\\\evil.host\\x', 'https://evil.host/x', '//evil.host/x', '/a/x.bin', '../x.bin', 'x?.bin', 'x#y']) {
      expect(() => weightUrl(bad, base)).toThrow(/must be a file beside model\.json/);
    }
    expect(() => checkModelUrl('https://user:pw@models.example.com/m.json')).toThrow(/must not carry credentials/);
  });
});

describe('MODEL_DIR', () => {
  it('wins over MODEL_URL and over the default model', async () => {
    const warnings: string[] = [];
    const source = await resolveModelSource(
      { modelDir: MODEL_DIR, modelUrl: 'https://127.0.0.1:9/model.json' },
      { info: () => undefined, warn: (_f, m) => warnings.push(m) },
    );
    expect(source).toMatchObject({ name: 'mobilenet_v1_025_224', modelSha256: MODEL_SHA256 });
    expect(source.isDefault).toBeUndefined();
    expect(warnings).toEqual(['MODEL_DIR is set: MODEL_URL is ignored']);
  });

  it('is pinned by MODEL_SHA256 too', async () => {
    await expect(resolveModelSource({ modelDir: MODEL_DIR, modelSha256: MODEL_SHA256 }, silentLogger)).resolves.toMatchObject({
      modelSha256: MODEL_SHA256,
    });
    const err = await resolveModelSource({ modelDir: MODEL_DIR, modelSha256: '0'.repeat(64) }, silentLogger).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelIntegrityError);
    expect((err as Error).message).toContain(`MODEL_SHA256 does not match: MODEL_DIR ${MODEL_DIR}: model.json has SHA-256 ${MODEL_SHA256}`);
  });
});
