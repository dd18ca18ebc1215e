import { randomBytes } from 'node:crypto';
import { IncomingMessage, type ServerResponse } from 'node:http';
import { Socket } from 'node:net';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * S3's conditional writes on PutObject and CompleteMultipartUpload in front of
 * s3rver, which accepts the headers on PUT and overwrites:
 * - `If-None-Match: *` (create): an existing key answers 412 PreconditionFailed;
 * - `If-Match: <etag>` (compare-and-swap): another ETag answers 412, a missing
 *   key 404 NoSuchKey.
 * As on S3: the error is S3's XML, nothing is written, and of concurrent
 * conditional writes of one key exactly one succeeds (they are run one at a
 * time per key here). Other If-None-Match values are refused with 501
 * NotImplemented, as S3 does.
 * Path-style requests only (the local stack sets S3_FORCE_PATH_STYLE). Unlike
 * S3, the precondition is checked before s3rver checks the signature.
 *
 * s3rver also stores whatever part of a body arrived when the client dies
 * mid-upload; S3 stores nothing. A conditional write is therefore read whole
 * here first and handed to s3rver only when complete, so a writer killed
 * mid-PUT cannot leave a truncated object that would win for ever.
 */
export class ConditionalWrites {
  /** The tail of each key's queue of conditional writes. */
  private readonly tails = new Map<string, Promise<void>>();

  constructor(
    /** The stored object's ETag (quoted, as S3 sends it), or undefined when there is none. */
    private readonly objectEtag: (bucket: string, key: string) => Promise<string | undefined>,
    private readonly s3: Handler,
  ) {}

  /** Serves the request: conditional writes here, everything else straight to s3rver. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const target = conditionalWrite(req);
    if (!target) {
      this.s3(req, res);
      return;
    }
    if (target.header === 'If-None-Match' && target.condition !== '*') {
      answerError(req, res, 501, 'NotImplemented', 'A header you provided implies functionality that is not implemented', { Header: 'If-None-Match' });
      return;
    }
    const id = `${target.bucket}/${target.key}`;
    const previous = this.tails.get(id) ?? Promise.resolve();
    const mine = previous.then(() => this.writeIf(target, req, res));
    const tail = mine.catch(() => undefined);
    this.tails.set(id, tail);
    void tail.then(() => {
      if (this.tails.get(id) === tail) this.tails.delete(id);
    });
  }

  private async writeIf(target: ConditionalTarget, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const done = finished(res);
    let etag: string | undefined;
    try {
      etag = await this.objectEtag(target.bucket, target.key);
    } catch (err) {
      answerError(req, res, 500, 'InternalError', `We encountered an internal error. Please try again. (${(err as Error).message})`);
      return done;
    }
    if (target.header === 'If-Match' && etag === undefined) {
      answerError(req, res, 404, 'NoSuchKey', 'The specified key does not exist.', { Key: target.key });
      return done;
    }
    const holds = target.header === 'If-None-Match' ? etag === undefined : sameEtag(etag, target.condition);
    if (!holds) {
      answerError(req, res, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: target.header });
      return done;
    }
    const body = await readWhole(req);
    if (!body) return; // the client went away mid-body: nothing is stored, as on S3
    // The next write of this key waits until this one's response is complete (the object stored, or refused).
    this.s3(replay(req, body), res);
    return done;
  }
}

interface ConditionalTarget {
  bucket: string;
  key: string;
  header: 'If-None-Match' | 'If-Match';
  condition: string;
}

/** ETags compare without their quotes (clients send either form). */
function sameEtag(stored: string | undefined, wanted: string): boolean {
  const bare = (s: string) => s.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
  return stored !== undefined && (wanted.trim() === '*' || bare(stored) === bare(wanted));
}

function conditionalWrite(req: IncomingMessage): ConditionalTarget | undefined {
  const noneMatch = req.headers['if-none-match'];
  const match = req.headers['if-match'];
  const header = typeof noneMatch === 'string' ? 'If-None-Match' : typeof match === 'string' ? 'If-Match' : undefined;
  const condition = typeof noneMatch === 'string' ? noneMatch : match;
  if (!header || typeof condition !== 'string') return undefined;
  const url = new URL(req.url ?? '/', 'http://edge');
  const isPut = req.method === 'PUT' && !url.searchParams.has('partNumber') && !req.headers['x-amz-copy-source'];
  const isComplete = req.method === 'POST' && url.searchParams.has('uploadId');
  if (!isPut && !isComplete) return undefined;
  const path = /^\/([^/]+)\/(.+)$/.exec(url.pathname);
  if (!path) return undefined;
  try {
    return { bucket: decodeURIComponent(path[1]), key: decodeURIComponent(path[2]), header, condition: condition.trim() };
  } catch {
    return undefined; // a malformed escape: s3rver answers it
  }
}

/** The request body, or undefined when the client aborted before sending all of it. */
function readWhole(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => resolve(req.complete ? Buffer.concat(chunks) : undefined));
    req.once('close', () => resolve(req.complete ? Buffer.concat(chunks) : undefined));
    req.once('error', () => resolve(undefined));
  });
}

/** A request with the same head as `req` whose body is `body`, for s3rver to read. */
function replay(req: IncomingMessage, body: Buffer): IncomingMessage {
  const copy = new IncomingMessage(req.socket ?? new Socket());
  Object.assign(copy, {
    method: req.method,
    url: req.url,
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    httpVersion: req.httpVersion,
    httpVersionMajor: req.httpVersionMajor,
    httpVersionMinor: req.httpVersionMinor,
  });
  copy.push(body);
  copy.push(null);
  copy.complete = true;
  return copy;
}

function finished(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    res.once('finish', resolve);
    res.once('close', resolve);
  });
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** S3's error response: XML body, x-amz-request-id; the request body is read and discarded. */
function answerError(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  detail: Record<string, string> = {},
): void {
  const requestId = randomBytes(8).toString('hex').toUpperCase();
  const extra = Object.entries(detail).map(([k, v]) => `<${k}>${xmlEscape(v)}</${k}>`).join('');
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message>${extra}<RequestId>${requestId}</RequestId><HostId>local-aws</HostId></Error>`;
  req.resume();
  res.writeHead(status, {
    'Content-Type': 'application/xml',
    'Content-Length': Buffer.byteLength(body),
    'x-amz-request-id': requestId,
  });
  res.end(body);
}
