import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { S3Client } from '@aws-sdk/client-s3';
import { closeServer, listenOnLoopback } from './loopback-server';

/** An S3 error to answer with (its HTTP status and its XML `<Code>`), or with `body`, an answer of any kind. */
export interface S3Fault {
  status: number;
  code: string;
  headers?: Record<string, string>;
  body?: Buffer;
}

export interface FaultyS3 {
  /** A client of the double, credentials as the embedded S3 takes them. */
  s3: S3Client;
  /** Requests the double has answered with a fault. */
  faults(): number;
  stop(): Promise<void>;
}

/**
 * A test double for the failures the embedded S3 never gives (409
 * ConditionalRequestConflict, 500 InternalError, 503 SlowDown): answers each
 * request `fault` picks with S3's XML error, and forwards every other request
 * to `upstream` (the embedded S3) as it came, signature and all.
 */
export async function faultyS3(
  upstream: string,
  credentials: { accessKeyId: string; secretAccessKey: string },
  fault: (req: IncomingMessage) => S3Fault | undefined,
  /** The client's checksum modes (default WHEN_REQUIRED: what the embedded S3 takes). */
  checksums: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED' = 'WHEN_REQUIRED',
): Promise<FaultyS3> {
  let faults = 0;
  const server: Server = createServer((req, res) => {
    const answer = fault(req);
    if (answer) {
      faults++;
      req.resume();
      const body = answer.body ?? `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${answer.code}</Code><Message>${answer.code} (a test double's)</Message><RequestId>1</RequestId></Error>`;
      res.writeHead(answer.status, { 'Content-Type': 'application/xml', ...answer.headers, 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    const forwarded = request(`${upstream}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    forwarded.on('error', () => res.destroy());
    req.pipe(forwarded);
  });
  const endpoint = await listenOnLoopback(server);
  const s3 = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials,
    maxAttempts: 4,
    requestChecksumCalculation: checksums,
    responseChecksumValidation: checksums,
  });
  return {
    s3,
    faults: () => faults,
    async stop() {
      s3.destroy();
      await closeServer(server);
    },
  };
}
