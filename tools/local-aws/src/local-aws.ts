import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequestHandler } from 'local-aws-sqs';
import { makeOverwritesAtomic, type S3rverStore } from './atomic-overwrites';
import { dropS3RequestLog, type MiddlewareChain } from './s3-request-log';
import { cacheBuckets, type BucketStore } from './bucket-cache';
import { releaseAbandonedReceives } from './abandoned-receives';
import { withFairGroups } from './fair-groups';
import { SQSClient } from '@aws-sdk/client-sqs';
import { ConditionalWrites } from './conditional-writes';
import { LocalSns } from './sns';
// s3rver ships no types; its default export is a Koa app whose callback() serves S3.
const S3rver = require('s3rver') as new (options: Record<string, unknown>) => MiddlewareChain & {
  configureBuckets(): Promise<void>;
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  store: S3rverStore & BucketStore & { existsObject(bucket: string, key: string): Promise<boolean> };
};

/** s3rver accepts only its own fixed key pair. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
const ACCOUNT_ID = '000000000000';

export interface LocalAwsOptions {
  /** Edge port for both services; 0 picks a free one. Default 4566, as LocalStack. */
  port?: number;
  host?: string;
  /**
   * The host name clients use for this edge, put into its queue URLs and `env` (default `host`):
   * in a container listening on 0.0.0.0, the name other containers reach it by.
   */
  publicHost?: string;
  /** Where S3 objects are kept. Default: a fresh temporary folder, removed on stop. */
  dataDir?: string;
  /** Where that temporary folder is made (default: the system's temp folder). */
  tempDir?: string;
  region?: string;
  inputBucket?: string;
  outputBucket?: string;
  /** Prefix of the queue names, so that several stacks can share one server. */
  queuePrefix?: string;
  /** Receives of one launch message before it is dead-lettered. */
  maxReceiveCount?: number;
  /**
   * Visibility timeout of the launch queue, seconds (default 15). A worker claims what it
   * receives at once, so this is only how long an image received by a worker that died
   * before claiming it waits: locally, where workers are killed on purpose, short.
   */
  launchVisibilitySeconds?: number;
  /** Receives of one monitor message before it is dead-lettered (default 5). */
  monitorMaxReceiveCount?: number;
  /** Visibility timeout of the monitor queue, seconds (default 30). */
  monitorVisibilitySeconds?: number;
  /**
   * Standard queues serve message groups (tenants) fairly, as SQS fair queues do (default true);
   * false: strictly oldest first, as local-aws-sqs does (to measure what fair queues change).
   */
  fairGroups?: boolean;
}

export interface LocalAws {
  endpoint: string;
  port: number;
  dataDir: string;
  buckets: { input: string; output: string };
  queues: { launch: string; launchDeadLetter: string; monitor: string; monitorDeadLetter: string; output: string; webhook: string; webhookDeadLetter: string };
  /** The environment every app and the AWS SDK need to use this stack. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * The queue URLs and the environment of a client of an edge at `endpoint` (what `LocalAws.env`
 * holds): for a client of an edge started elsewhere, e.g. in a container.
 */
export function localAwsEnv(
  endpoint: string,
  o: Pick<LocalAwsOptions, 'region' | 'inputBucket' | 'outputBucket' | 'queuePrefix'> = {},
): { queues: LocalAws['queues']; env: Record<string, string> } {
  const prefix = o.queuePrefix ?? 'ics-';
  const url = (name: string) => `${endpoint}/${ACCOUNT_ID}/${prefix}${name}`;
  const queues = {
    launch: url('launch'),
    launchDeadLetter: url('launch-dlq'),
    monitor: url('monitor'),
    monitorDeadLetter: url('monitor-dlq'),
    output: url('output'),
    webhook: url('webhook'),
    webhookDeadLetter: url('webhook-dlq'),
  };
  const env: Record<string, string> = {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: o.region ?? 'us-east-1',
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    // s3rver stores streamed uploads corrupted when the SDK adds its default checksums.
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    S3_FORCE_PATH_STYLE: 'true',
    SQS_VISIBLE_COUNT_INCLUDES_IN_FLIGHT: 'true',
    INPUT_BUCKET: o.inputBucket ?? 'ics-input',
    OUTPUT_BUCKET: o.outputBucket ?? 'ics-output',
    LAUNCH_QUEUE_URL: queues.launch,
    MONITOR_QUEUE_URL: queues.monitor,
    OUTPUT_QUEUE_URL: queues.output,
    LAUNCH_DEAD_LETTER_QUEUE_URL: queues.launchDeadLetter,
    MONITOR_DEAD_LETTER_QUEUE_URL: queues.monitorDeadLetter,
    WEBHOOK_QUEUE_URL: queues.webhook,
  };
  return { queues, env };
}

function isSqsRequest(req: IncomingMessage): boolean {
  // SQS's JSON protocol names its operation in this header; everything else is S3.
  const target = req.headers['x-amz-target'];
  return typeof target === 'string' && target.startsWith('AmazonSQS.');
}

/**
 * Starts S3 (s3rver) and SQS (local-aws-sqs) behind one HTTP port on loopback,
 * with the project's buckets and queues created.
 */
export async function startLocalAws(options: LocalAwsOptions = {}): Promise<LocalAws> {
  const host = options.host ?? '127.0.0.1';
  const region = options.region ?? 'us-east-1';
  const inputBucket = options.inputBucket ?? 'ics-input';
  const outputBucket = options.outputBucket ?? 'ics-output';
  const prefix = options.queuePrefix ?? 'ics-';
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(options.tempDir ?? tmpdir(), 'local-aws-'));
  mkdirSync(dataDir, { recursive: true });

  const s3 = new S3rver({
    silent: true,
    directory: dataDir,
    configureBuckets: [{ name: inputBucket }, { name: outputBucket }],
  });
  await s3.configureBuckets();
  dropS3RequestLog(s3);
  cacheBuckets(s3.store);
  makeOverwritesAtomic(s3.store);
  // s3rver ignores If-None-Match and If-Match on PUT: the edge gives S3's conditional-write semantics.
  const s3Writes = new ConditionalWrites(async (bucket, key) => {
    if (!(await s3.store.existsObject(bucket, key))) return undefined;
    const metadata = (await s3.store.getMetadata(bucket, key)) as { etag?: string };
    return metadata.etag;
  }, s3.callback());

  // Set once the port is known: the emulator puts it into every queue URL.
  const sqs: { handler?: (req: IncomingMessage, res: ServerResponse) => Promise<void> } = {};
  // SNS (a test double, see sns.ts) delivers through this edge's own SQS API; set once the port is known.
  const sns: { edge?: LocalSns; delivery?: SQSClient } = {};
  const server: Server = createServer((req, res) => {
    if (sns.edge && LocalSns.isSnsRequest(req)) {
      sns.edge.handle(req, res).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    } else if (isSqsRequest(req) && sqs.handler) {
      sqs.handler(req, res).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    } else {
      s3Writes.handle(req, res);
    }
  });
  server.keepAliveTimeout = 65_000;
  // once() rejects on the server's 'error' (the port taken, say).
  server.listen(options.port ?? 4566, host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const publicHost = options.publicHost ?? host;
  const endpoint = `http://${publicHost}:${port}`;

  const names = {
    launch: `${prefix}launch`,
    launchDeadLetter: `${prefix}launch-dlq`,
    monitor: `${prefix}monitor`,
    monitorDeadLetter: `${prefix}monitor-dlq`,
    output: `${prefix}output`,
    webhook: `${prefix}webhook`,
    webhookDeadLetter: `${prefix}webhook-dlq`,
  };
  const arn = (name: string) => `arn:aws:sqs:${region}:${ACCOUNT_ID}:${name}`;
  // The queue URLs the emulator hands out name this edge port, so the SDK's
  // QueueUrl-as-endpoint logic lands here too.
  // Wrapped: a long poll whose client died gives its messages back at once (see abandoned-receives.ts),
  // and standard queues serve message groups (tenants) fairly, as SQS fair queues do (see fair-groups.ts).
  sqs.handler = releaseAbandonedReceives(withFairGroups(options.fairGroups ?? true, createRequestHandler({
    port,
    hostname: publicHost,
    region,
    accountId: ACCOUNT_ID,
    emulateQueueCreationLifecycle: false,
    queues: [
      { QueueName: names.launchDeadLetter, Attributes: { MessageRetentionPeriod: 1209600 } },
      {
        QueueName: names.launch,
        Attributes: {
          VisibilityTimeout: options.launchVisibilitySeconds ?? 15,
          RedrivePolicy: JSON.stringify({
            deadLetterTargetArn: arn(names.launchDeadLetter),
            maxReceiveCount: options.maxReceiveCount ?? 5,
          }),
        },
      },
      { QueueName: names.monitorDeadLetter, Attributes: { MessageRetentionPeriod: 1209600 } },
      {
        // A monitor message that keeps failing ends here instead of being retried forever.
        QueueName: names.monitor,
        Attributes: {
          VisibilityTimeout: options.monitorVisibilitySeconds ?? 30,
          RedrivePolicy: JSON.stringify({
            deadLetterTargetArn: arn(names.monitorDeadLetter),
            maxReceiveCount: options.monitorMaxReceiveCount ?? 5,
          }),
        },
      },
      { QueueName: names.output },
      { QueueName: names.webhookDeadLetter, Attributes: { MessageRetentionPeriod: 1209600 } },
      {
        // A delivery whose handler keeps failing (not the receiver: that is retried with back-off) ends here.
        QueueName: names.webhook,
        Attributes: {
          VisibilityTimeout: 60,
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn(names.webhookDeadLetter), maxReceiveCount: 10 }),
        },
      },
    ],
  })), () => endpoint, ACCOUNT_ID);

  const { queues, env } = localAwsEnv(endpoint, { region, inputBucket, outputBucket, queuePrefix: prefix });

  sns.delivery = new SQSClient({ region, endpoint: `http://${host}:${port}`, credentials: LOCAL_CREDENTIALS, maxAttempts: 3 });
  sns.edge = new LocalSns({ region, accountId: ACCOUNT_ID, sqs: sns.delivery });

  let stopped = false;
  return {
    endpoint,
    port,
    dataDir,
    buckets: { input: inputBucket, output: outputBucket },
    queues,
    env,
    async stop() {
      if (stopped) return;
      stopped = true;
      sns.delivery?.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
