import type { S3Client } from '@aws-sdk/client-s3';
import { Crc32 } from '@aws-sdk/checksums/crc';
import { loadRestXmlErrorCode, parseXmlErrorBody } from '@aws-sdk/core/protocols';
import { extendedEncodeURIComponent, HttpRequest } from '@smithy/core/protocols';
import { SignatureV4 } from '@smithy/signature-v4';
import { AwsAdapterError, mapAwsError } from './errors';
import { perClient, resolvedOnce, signAndSend, serviceError, withClientRetries, type Answer, type ClientParts } from './signed-requests';

/** Where one bucket's objects are, and how their requests are signed (from the client's endpoint rules). */
interface BucketEndpoint {
  url: URL;
  signer: SignatureV4;
}

export interface ObjectPut {
  contentType?: string;
  /** User metadata (x-amz-meta-*). */
  metadata?: Record<string, string>;
  /** `*`: create only (If-None-Match). */
  ifNoneMatch?: string;
  /** Replace only while the object's ETag is this one (If-Match). */
  ifMatch?: string;
}

/**
 * GetObject into a buffer and PutObject from one, the two requests every
 * image costs a worker, made with the S3 client's own parts (its endpoint rules,
 * credentials, SigV4 signer, HTTP handler and retry strategy) but not its
 * command stack. Measured with `npm run bench:floor` (2026-12-04): as commands,
 * through the client's middleware (serialisers, endpoint and checksum middleware,
 * user agent, retry middleware, response parsers), a GET and a conditional PUT
 * cost 2.1-3.1 ms of CPU here; through ObjectStore with these, 1.2-1.7 ms, on the
 * same requests and the same keep-alive agent.
 *
 * Only plain SigV4 buckets: a bucket whose endpoint rules ask for another
 * scheme (an S3 Express directory bucket, a multi-Region access point) is
 * refused with a clear error rather than signed wrongly.
 */
export class ObjectRequests {
  /** The client's one ObjectRequests, shared by every bucket on it. */
  static readonly of = perClient((s3: S3Client) => new ObjectRequests(s3));

  private readonly endpoints = new Map<string, Promise<BucketEndpoint>>();

  /** What the SDK's XML error parser reads of its context (the client's UTF-8 codec): the client's config. */
  private readonly serde: Parameters<typeof parseXmlErrorBody>[1];

  /** The client's handler, body collector, clock offset and retry strategy. */
  private readonly parts: ClientParts;

  constructor(private readonly s3: S3Client) {
    this.serde = s3.config as unknown as Parameters<typeof parseXmlErrorBody>[1];
    this.parts = s3.config as unknown as ClientParts;
  }

  /**
   * The object's bytes; NotFoundError (typed as every adapter error) when it is missing. As the
   * client does (responseChecksumValidation WHEN_SUPPORTED), the CRC32 S3 keeps of a whole
   * object is asked for and checked: bytes that do not match are a RetryableError.
   */
  async get(bucket: string, key: string): Promise<Buffer> {
    const validate = (await this.s3.config.responseChecksumValidation()) === 'WHEN_SUPPORTED';
    const answer = await this.send('s3.GetObject', bucket, key, 'GET', validate ? { 'x-amz-checksum-mode': 'ENABLED' } : {});
    const body = Buffer.from(answer.body.buffer, answer.body.byteOffset, answer.body.byteLength);
    const expected = answer.headers['x-amz-checksum-crc32'];
    // A checksum of checksums (a multipart upload's, "...-N") is not the body's: nothing to compare.
    if (!validate || !expected || expected.includes('-')) return body;
    const actual = await crc32(body);
    if (actual !== expected) {
      throw mapAwsError(Object.assign(new Error(`${key}: CRC32 ${actual} of the bytes read, ${expected} stored`), { name: 'ChecksumMismatch', $retryable: {} }), 's3.GetObject');
    }
    return body;
  }

  /** Writes the object; its new ETag. A condition that fails is PreconditionFailedError (412), a concurrent write ConflictError (409). */
  async put(bucket: string, key: string, body: Buffer | Uint8Array | string, options: ObjectPut = {}): Promise<{ etag: string }> {
    const operation = options.ifNoneMatch ? 's3.PutObject(If-None-Match)' : options.ifMatch ? 's3.PutObject(If-Match)' : 's3.PutObject';
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const headers: Record<string, string> = { 'content-length': String(bytes.byteLength) };
    if (options.contentType) headers['content-type'] = options.contentType;
    if (options.ifNoneMatch) headers['if-none-match'] = options.ifNoneMatch;
    if (options.ifMatch) headers['if-match'] = options.ifMatch;
    for (const [name, value] of Object.entries(options.metadata ?? {})) headers[`x-amz-meta-${name.toLowerCase()}`] = value;
    // As the client does (requestChecksumCalculation WHEN_SUPPORTED): S3 refuses bytes that do not match, and keeps the CRC32.
    if ((await this.s3.config.requestChecksumCalculation()) === 'WHEN_SUPPORTED') headers['x-amz-checksum-crc32'] = await crc32(bytes);
    const answer = await this.send(operation, bucket, key, 'PUT', headers, bytes);
    return { etag: answer.headers['etag'] ?? '' };
  }

  /** One request, retried as the client retries (its own strategy and retry quota) while the failure may pass. */
  private send(operation: string, bucket: string, key: string, method: 'GET' | 'PUT', headers: Record<string, string> = {}, body?: Uint8Array): Promise<Answer> {
    return withClientRetries(this.parts, operation, () => this.once(bucket, key, method, headers, body));
  }

  private async once(bucket: string, key: string, method: 'GET' | 'PUT', headers: Record<string, string>, body?: Uint8Array): Promise<Answer> {
    const { url, signer } = await this.endpoint(bucket);
    const path = `${url.pathname.replace(/\/$/, '')}/${key.split('/').map(extendedEncodeURIComponent).join('/')}`;
    const request = new HttpRequest({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      path,
      headers: { host: url.host, ...headers },
      body,
    });
    const answer = await signAndSend(this.parts, signer, request);
    if (answer.statusCode < 300) return answer;
    // The error as the SDK would have thrown it: its code from S3's XML error, its HTTP status in $metadata.
    const response = { statusCode: answer.statusCode, headers: answer.headers };
    const parsed = answer.body.byteLength > 0 ? await parseXmlErrorBody(answer.body, this.serde).catch(() => ({})) : {};
    const code = loadRestXmlErrorCode(response, parsed) ?? `HTTP ${answer.statusCode}`;
    throw serviceError(code, (parsed as { Message?: string }).Message ?? `${method} ${key}: HTTP ${answer.statusCode}`, answer.statusCode);
  }

  /** The bucket's endpoint and signer, resolved once by the client's own endpoint rules. */
  private endpoint(bucket: string): Promise<BucketEndpoint> {
    return resolvedOnce(this.endpoints, bucket, () => this.resolve(bucket));
  }

  private async resolve(bucket: string): Promise<BucketEndpoint> {
    const config = this.s3.config;
    const custom = config.endpoint ? await config.endpoint() : undefined;
    const region = await config.region();
    const resolved = config.endpointProvider({
      Bucket: bucket,
      Region: region,
      UseFIPS: await config.useFipsEndpoint(),
      UseDualStack: await config.useDualstackEndpoint(),
      ForcePathStyle: config.forcePathStyle,
      Accelerate: config.useAccelerateEndpoint,
      ...(custom ? { Endpoint: `${custom.protocol}//${custom.hostname}${custom.port ? `:${custom.port}` : ''}${custom.path}` } : {}),
    });
    const schemes = (resolved.properties?.['authSchemes'] ?? []) as { name?: string; signingName?: string; signingRegion?: string; disableDoubleEncoding?: boolean }[];
    const scheme = schemes[0] ?? { name: 'sigv4' };
    if (scheme.name !== 'sigv4') throw new UnsupportedBucketError(`bucket ${bucket} asks for ${scheme.name ?? 'an unknown'} signing; only plain SigV4 buckets are supported`, 's3.endpoint');
    return {
      url: resolved.url,
      signer: new SignatureV4({
        service: scheme.signingName ?? 's3',
        region: scheme.signingRegion ?? region,
        credentials: config.credentials,
        sha256: config.sha256,
        uriEscapePath: !scheme.disableDoubleEncoding,
        applyChecksum: true,
      }),
    };
  }
}

/** Base64 of the CRC32 of `bytes`, as S3's x-amz-checksum-crc32 carries it (the SDK's own implementation). */
async function crc32(bytes: Uint8Array): Promise<string> {
  const checksum = new Crc32();
  checksum.update(bytes);
  return Buffer.from(await checksum.digest()).toString('base64');
}

/** A bucket these requests cannot sign for. */
export class UnsupportedBucketError extends AwsAdapterError {
  override readonly name = 'UnsupportedBucketError';
  readonly retryable = false;
}
