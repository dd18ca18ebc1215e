import { createServer, request, type Server } from 'node:http';
import { SQSClient } from '@aws-sdk/client-sqs';
import { closeServer, listenOnLoopback } from './loopback-server';

/** An SQS error to answer with: its HTTP status, its `__type` and, optionally, its older query code. */
export interface SqsFault {
  status: number;
  type: string;
  queryCode?: string;
}

/** What to do with one call (`action`: e.g. ReceiveMessage): fail it, change its answer, or pass it on as it is. */
export type SqsPlan = { fault: SqsFault } | { rewrite: (answer: Record<string, unknown>) => Record<string, unknown> } | undefined;

export interface FaultySqs {
  /** A client of the double, credentials as the embedded SQS takes them (queue URLs stay the upstream's). */
  sqs: SQSClient;
  /** Calls the double has failed or changed. */
  interventions(): number;
  stop(): Promise<void>;
}

/**
 * A test double for what the embedded SQS never does (500s, throttling, a body that
 * changed on the way): answers each AWS JSON call `plan` picks with an error in SQS's
 * JSON protocol (with the `x-amzn-query-error` header), or forwards it to `upstream`
 * (the embedded SQS) as it came, signature and all, changing the answer where asked.
 */
export async function faultySqs(upstream: string, credentials: { accessKeyId: string; secretAccessKey: string }, plan: (action: string) => SqsPlan): Promise<FaultySqs> {
  let interventions = 0;
  const server: Server = createServer((req, res) => {
    const action = String(req.headers['x-amz-target'] ?? '').replace(/^AmazonSQS\./, '');
    const step = plan(action);
    if (step && 'fault' in step) {
      interventions++;
      req.resume();
      const body = JSON.stringify({ __type: `com.amazonaws.sqs#${step.fault.type}`, message: `${step.fault.type} (a test double's)` });
      res.writeHead(step.fault.status, {
        'Content-Type': 'application/x-amz-json-1.0',
        ...(step.fault.queryCode ? { 'x-amzn-query-error': `${step.fault.queryCode};${step.fault.status >= 500 ? 'Receiver' : 'Sender'}` } : {}),
        'Content-Length': Buffer.byteLength(body),
      });
      res.end(body);
      return;
    }
    const forwarded = request(`${upstream}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
      if (!step) {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      up.on('data', (c: Buffer) => chunks.push(c));
      up.on('end', () => {
        interventions++;
        const body = JSON.stringify(step.rewrite(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>));
        res.writeHead(up.statusCode ?? 502, { ...up.headers, 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
    });
    forwarded.on('error', () => res.destroy());
    req.pipe(forwarded);
  });
  const endpoint = await listenOnLoopback(server);
  const sqs = new SQSClient({ region: 'us-east-1', endpoint, credentials, maxAttempts: 4 });
  return {
    sqs,
    interventions: () => interventions,
    async stop() {
      sqs.destroy();
      await closeServer(server);
    },
  };
}
