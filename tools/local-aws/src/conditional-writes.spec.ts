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

  it('CompleteMultipartUpload with If-None-Match: * of an existing key is refused with 412, leaving the object as it was', async () => {
    const path = key();
    expect((await raw(aws, 'PUT', path, 'original')).status).toBe(200);
    const upload = async () => {
      const created = await raw(aws, 'POST', `${path}?uploads`);
      const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(created.body)?.[1] ?? '';
      expect(uploadId).not.toBe('');
      const part = await raw(aws, 'PUT', `${path}?partNumber=1&uploadId=${encodeURIComponent(uploadId)}`, 'multipart body', { 'If-None-Match': '*' });
      expect(part.status).toBe(200); // a part is not the object: no precondition on it
      const etag = String(part.headers['etag']);
      const xml = `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${etag}</ETag></Part></CompleteMultipartUpload>`;
      return { uploadId, xml };
    };
    const { uploadId, xml } = await upload();
    const refused = await raw(aws, 'POST', `${path}?uploadId=${encodeURIComponent(uploadId)}`, xml, { 'If-None-Match': '*' });
    expect(refused.status).toBe(412);
    expect(refused.body).toContain('<Code>PreconditionFailed</Code>');
    expect((await raw(aws, 'GET', path)).body).toBe('original');

    // The same completion to a free key succeeds.
    const free = key();
    const created = await raw(aws, 'POST', `${free}?uploads`);
    const freeId = /<UploadId>([^<]+)<\/UploadId>/.exec(created.body)?.[1] ?? '';
    const part = await raw(aws, 'PUT', `${free}?partNumber=1&uploadId=${encodeURIComponent(freeId)}`, 'multipart body');
    const done = await raw(aws, 'POST', `${free}?uploadId=${encodeURIComponent(freeId)}`, `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${String(part.headers['etag'])}</ETag></Part></CompleteMultipartUpload>`, { 'If-None-Match': '*' });
    expect(done.status).toBe(200);
    expect((await raw(aws, 'GET', free)).body).toBe('multipart body');
  });

  // s3rver alone stores the 10 bytes that arrived (a truncated result that would win for ever).
  it('a conditional write whose client dies mid-body creates nothing and does not block the key', async () => {
    const path = key();
    await new Promise<void>((resolve) => {
      const req = request(`${aws.endpoint}${path}`, { method: 'PUT', headers: { 'If-None-Match': '*', 'Content-Length': '100000' } });
      req.on('error', () => resolve());
      req.write('x'.repeat(10), () => setTimeout(() => req.destroy(), 100));
      req.on('close', () => resolve());
    });
    expect((await raw(aws, 'GET', path)).status).toBe(404);
    const next = await raw(aws, 'PUT', path, 'complete', { 'If-None-Match': '*' });
    expect(next.status).toBe(200);
    expect((await raw(aws, 'GET', path)).body).toBe('complete');
  });

  it("If-Match: <etag> replaces only the object with that ETag (412 otherwise) and answers 404 NoSuchKey for a missing key", async () => {
    const path = key();
    expect((await raw(aws, 'PUT', path, 'one')).status).toBe(200);
    const etag = (await raw(aws, 'HEAD', path)).headers['etag'] as string;
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    const swapped = await raw(aws, 'PUT', path, 'two', { 'If-Match': etag });
    expect(swapped.status).toBe(200);
    const stale = await raw(aws, 'PUT', path, 'three', { 'If-Match': etag });
    expect(stale.status).toBe(412);
    expect(stale.body).toContain('<Condition>If-Match</Condition>');
    expect((await raw(aws, 'GET', path)).body).toBe('two');
    const missing = await raw(aws, 'PUT', key(), 'x', { 'If-Match': etag });
    expect(missing.status).toBe(404);
    expect(missing.body).toContain('<Code>NoSuchKey</Code>');
  });
});
