import { request } from 'node:http';
import { startLocalAws, type LocalAws } from './local-aws';

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One plain HTTP request (no SDK): anonymous requests are allowed by s3rver. */
function raw(aws: LocalAws, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(`${aws.endpoint}${path}`, { method, headers: { ...(body !== undefined ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('conditional writes on the local S3 edge (raw HTTP)', () => {
  let aws: LocalAws;
  let n = 0;
  const key = () => `/ics-output/cond/${++n}-${Date.now()}.json`;

  beforeAll(async () => {
    aws = await startLocalAws({ port: 0 });
  });
  afterAll(() => aws.stop());

  it('If-None-Match: * creates a missing key (200) and refuses an existing one with 412 and S3\'s XML error, keeping the first bytes', async () => {
    const path = key();
    const first = await raw(aws, 'PUT', path, '{"first":true}', { 'If-None-Match': '*', 'Content-Type': 'application/json' });
    expect(first.status).toBe(200);
    const second = await raw(aws, 'PUT', path, '{"second":true}', { 'If-None-Match': '*' });
    expect(second.status).toBe(412);
    expect(second.headers['content-type']).toBe('application/xml');
    expect(second.headers['x-amz-request-id']).toMatch(/^[0-9A-F]{16}$/);
    expect(second.body).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<Error><Code>PreconditionFailed<\/Code><Message>At least one of the pre-conditions you specified did not hold<\/Message><Condition>If-None-Match<\/Condition><RequestId>[0-9A-F]{16}<\/RequestId>/);
    const stored = await raw(aws, 'GET', path);
    expect(stored).toMatchObject({ status: 200, body: '{"first":true}' });
  });

  it('an unconditional PUT still overwrites, as on S3', async () => {
    const path = key();
    expect((await raw(aws, 'PUT', path, 'a')).status).toBe(200);
    expect((await raw(aws, 'PUT', path, 'b')).status).toBe(200);
    expect((await raw(aws, 'GET', path)).body).toBe('b');
    expect((await raw(aws, 'PUT', path, 'c', { 'If-None-Match': '*' })).status).toBe(412);
    expect((await raw(aws, 'GET', path)).body).toBe('b');
  });

  it('of 20 concurrent conditional PUTs of one key exactly one wins, and its bytes are the ones stored', async () => {
    const path = key();
    const bodies = Array.from({ length: 20 }, (_, i) => JSON.stringify({ writer: i, pad: 'x'.repeat(20_000) }));
    const answers = await Promise.all(bodies.map((b) => raw(aws, 'PUT', path, b, { 'If-None-Match': '*' })));
    const winners = answers.flatMap((a, i) => (a.status === 200 ? [i] : []));
    expect(winners).toHaveLength(1);
    expect(answers.filter((a) => a.status === 412)).toHaveLength(19);
    expect((await raw(aws, 'GET', path)).body).toBe(bodies[winners[0]]);
  });

  it('conditional writes of different keys do not wait for each other', async () => {
    const paths = Array.from({ length: 10 }, key);
    const answers = await Promise.all(paths.map((p) => raw(aws, 'PUT', p, 'x', { 'If-None-Match': '*' })));
    expect(answers.map((a) => a.status)).toEqual(paths.map(() => 200));
  });

  it('refuses If-None-Match values other than * with 501 NotImplemented, writing nothing', async () => {
    const path = key();
    const answer = await raw(aws, 'PUT', path, 'x', { 'If-None-Match': '"abc"' });
    expect(answer.status).toBe(501);
    expect(answer.body).toContain('<Code>NotImplemented</Code>');
    expect((await raw(aws, 'GET', path)).status).toBe(404);
  });

  it('a conditional PUT into a missing bucket gets S3\'s NoSuchBucket, not 412', async () => {
    const answer = await raw(aws, 'PUT', '/no-such-bucket/a.json', 'x', { 'If-None-Match': '*' });
    expect(answer.status).toBe(404);
    expect(answer.body).toContain('<Code>NoSuchBucket</Code>');
  });

  it('a key with spaces and slashes is matched by its decoded name', async () => {
    const path = `/ics-output/cond/with%20space/${Date.now()}.json`;
    expect((await raw(aws, 'PUT', path, '1', { 'If-None-Match': '*' })).status).toBe(200);
    expect((await raw(aws, 'PUT', path, '2', { 'If-None-Match': '*' })).status).toBe(412);
    expect((await raw(aws, 'GET', path)).body).toBe('1');
  });
});
