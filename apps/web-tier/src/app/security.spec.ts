import { randomUUID } from 'node:crypto';
import { eventually, spawnApp, startSsmDouble, startTestStack, type SsmDouble, type TestStack } from '@tools/testing';
import { ConfigError } from '@app/config';
import { faultyS3, startWebApp, type WebApp } from '../../test/web-test-kit';

jest.setTimeout(60_000);

const KEY = 'test-key-one-0123456789abcdef-0001';
const OTHER_KEY = 'test-key-two-0123456789abcdef-0002';
const ARN = 'arn:aws:iam::123456789012:role/ics-control-host';

describe('production: mandatory API keys, guarded metrics, no Swagger, throttled key floods, generic cached health', () => {
  let stack: TestStack;
  let ssm: SsmDouble;
  const apps: WebApp[] = [];
  const start = async (env: Record<string, string>) => {
    const web = await startWebApp(stack, { NODE_ENV: 'production', ...env });
    apps.push(web);
    return web;
  };

  beforeAll(async () => {
    stack = await startTestStack();
    ssm = await startSsmDouble({}, 10, { 'ics/prod/api-keys': `${KEY}, ${OTHER_KEY}`, 'ics/json-keys': JSON.stringify([OTHER_KEY]), 'ics/short': 'abc' });
  });
  afterEach(async () => {
    for (const a of apps.splice(0)) await a.close();
  });
  afterAll(async () => {
    await ssm?.close();
    await stack?.stop();
  });

  it('refuses to start without keys (the built process exits 2, a usage error, and says why)', async () => {
    await expect(start({})).rejects.toThrow(ConfigError);
    await expect(start({})).rejects.toThrow(/API keys are mandatory when NODE_ENV=production/);
    const proc = spawnApp('web-tier', { ...stack.env, NODE_ENV: 'production', PORT: '0' });
    try {
      expect(await proc.exited).toBe(2);
      expect(proc.lines.join('\n')).toMatch(/web-tier: invalid configuration:\s+- API_KEYS: API keys are mandatory when NODE_ENV=production/);
    } finally {
      await proc.stop();
    }
  });

  it('refuses keys shorter than 32 bytes without printing them', async () => {
    const err = await start({ API_KEYS: `${KEY},short-key` }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain('API_KEYS: key 2 of 2 has 9 bytes; every key needs at least 32');
    expect((err as Error).message).not.toContain('short-key');
    // The same rule outside production.
    await expect(startWebApp(stack, { API_KEYS: 'k-one' })).rejects.toThrow(/at least 32/);
  });

  it('reads the keys from Secrets Manager through SSM at start (comma-separated or a JSON array)', async () => {
    const web = await start({ API_KEYS_SECRET_ID: 'ics/prod/api-keys', AWS_ENDPOINT_URL_SSM: ssm.endpoint });
    expect(ssm.requests.at(-1)).toMatchObject({
      target: 'AmazonSSM.GetParameter',
      body: { Name: '/aws/reference/secretsmanager/ics/prod/api-keys', WithDecryption: true },
    });
    expect((await fetch(`${web.url}/api/status`)).status).toBe(401);
    for (const key of [KEY, OTHER_KEY]) expect((await fetch(`${web.url}/api/status`, { headers: { 'x-api-key': key } })).status).toBe(200);

    const json = await start({ API_KEYS_SECRET_ID: 'ics/json-keys', AWS_ENDPOINT_URL_SSM: ssm.endpoint });
    expect((await fetch(`${json.url}/api/status`, { headers: { 'x-api-key': OTHER_KEY } })).status).toBe(200);
    expect((await fetch(`${json.url}/api/status`, { headers: { 'x-api-key': KEY } })).status).toBe(401);
  });

  it('refuses to start when the secret cannot be read or holds a short key', async () => {
    await expect(start({ API_KEYS_SECRET_ID: 'ics/missing', AWS_ENDPOINT_URL_SSM: ssm.endpoint })).rejects.toThrow(
      /API_KEYS_SECRET_ID: cannot read the secret ics\/missing through SSM \/aws\/reference\/secretsmanager\/ics\/missing \(ParameterNotFound/,
    );
    await expect(start({ API_KEYS_SECRET_ID: 'ics/short', AWS_ENDPOINT_URL_SSM: ssm.endpoint })).rejects.toThrow(/key 1 of 1 has 3 bytes/);
  });

  it('with keys: /metrics needs a key, /docs is off (unless SWAGGER=on), /health and the page stay open', async () => {
    const web = await start({ API_KEYS: KEY });
    expect((await fetch(`${web.url}/metrics`)).status).toBe(401);
    const metrics = await fetch(`${web.url}/metrics`, { headers: { 'x-api-key': KEY } });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('ics_web_uploads_total');
    expect((await fetch(`${web.url}/docs`)).status).toBe(404);
    expect((await fetch(`${web.url}/docs-json`)).status).toBe(404);
    expect((await fetch(`${web.url}/health`)).status).toBe(200);
    expect((await fetch(`${web.url}/`)).status).toBe(200);

    const swagger = await start({ API_KEYS: KEY, SWAGGER: 'on' });
    expect((await fetch(`${swagger.url}/docs`)).status).toBe(200);
  });

  it('a flood of wrong keys past RATE_LIMIT_PER_MINUTE gets 429, per client behind one proxy hop', async () => {
    const web = await start({ API_KEYS: KEY, RATE_LIMIT_PER_MINUTE: '5' });
    // Spread over routes: the budget is the client's, not the route's.
    const routes = ['/api/status', '/metrics', `/api/images/${randomUUID()}`, '/health'];
    let n = 0;
    const from = (client: string, key = 'wrong-key-wrong-key-wrong-key-wrong') =>
      fetch(`${web.url}${routes[n++ % 3]}`, { headers: { 'x-api-key': key, 'x-forwarded-for': client } }).then((r) => r.status);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push(await from('203.0.113.7'));
    expect((await fetch(`${web.url}${routes[3]}`, { headers: { 'x-forwarded-for': '203.0.113.7' } })).status).toBe(429);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    // Even the right key is throttled for that client now...
    expect(await from('203.0.113.7', KEY)).toBe(429);
    // ...and one more address written in front by the client does not make it someone else.
    expect(await from('198.51.100.1, 203.0.113.7')).toBe(429);
    // Another client behind the same load balancer has its own limit.
    expect(await from('203.0.113.8', KEY)).toBe(200);
  });

  it('/health answers from a cached check with a generic body: no ARN, no SDK error text', async () => {
    const proxy = await faultyS3(stack.env['AWS_ENDPOINT_URL'], (req) =>
      req.url?.includes('health-probe') ? { status: 403, code: 'AccessDenied', message: `User: ${ARN} is not authorized to perform: s3:ListBucket` } : false,
    );
    try {
      const web = await start({ API_KEYS: KEY, AWS_ENDPOINT_URL_S3: proxy.url, HEALTH_CACHE_SECONDS: '60' });
      const answers = await Promise.all(Array.from({ length: 20 }, () => fetch(`${web.url}/health`).then(async (r) => ({ status: r.status, text: await r.text() }))));
      for (const a of answers) {
        expect(a.status).toBe(503);
        expect(JSON.parse(a.text)).toEqual({ status: 'error', checks: { s3: 'down', sqs: 'up', results: 'up' }, checkedAt: expect.any(String) });
        expect(a.text).not.toMatch(/arn:|AccessDenied|not authorized/);
      }
      // Twenty hits, one check: one listing of each bucket.
      expect(proxy.requests.filter((r) => r.url.includes('health-probe'))).toHaveLength(2);
    } finally {
      await proxy.close();
    }
  });

  it('/health refreshes a stale check in the background', async () => {
    let failing = true;
    const proxy = await faultyS3(stack.env['AWS_ENDPOINT_URL'], (req) => failing && !!req.url?.includes('health-probe'));
    try {
      const web = await start({ API_KEYS: KEY, AWS_ENDPOINT_URL_S3: proxy.url, HEALTH_CACHE_SECONDS: '1' });
      expect((await fetch(`${web.url}/health`)).status).toBe(503);
      failing = false;
      // Still the cached answer right away; once the 1 s cache is stale, a check in the background brings the new one.
      expect((await fetch(`${web.url}/health`)).status).toBe(503);
      const status = await eventually(async () => {
        const s = (await fetch(`${web.url}/health`)).status;
        return s === 200 ? s : undefined;
      }, 10_000, 100, '/health answering 200');
      expect(status).toBe(200);
    } finally {
      await proxy.close();
    }
  });
});
