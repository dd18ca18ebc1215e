import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { AppConfig, type AwsSettings } from '@app/config';

/** Retries are the SDK's own (standard mode: exponential back-off with jitter, a retry quota). */
const MAX_ATTEMPTS = 4;

/**
 * Every client's HTTP handler. Keep-alive matters most for the local emulators
 * and for SQS long polls; the request timeout sits above the 20 s long-poll
 * maximum. `throwOnRequestTimeout`: without it the handler only logs a warning
 * when a request outlives `requestTimeout` and the call waits on for ever (an
 * image held by a hung request is never handed back); with it the request
 * fails with a TimeoutError, which the SDK retries and callers treat as passing.
 */
export function requestHandler(timeouts: { connectionMs?: number; requestMs?: number } = {}): NodeHttpHandler {
  const agentOptions = { keepAlive: true, maxSockets: 64 };
  return new NodeHttpHandler({
    httpAgent: new HttpAgent(agentOptions),
    httpsAgent: new HttpsAgent(agentOptions),
    connectionTimeout: timeouts.connectionMs ?? 5_000,
    requestTimeout: timeouts.requestMs ?? 30_000,
    throwOnRequestTimeout: true,
  });
}

/** One factory for every AWS client, built from the typed configuration. */
@Injectable()
export class AwsClients implements OnApplicationShutdown {
  private s3Client?: S3Client;
  private sqsClient?: SQSClient;
  private ec2Client?: EC2Client;
  private snsClient?: SNSClient;
  private readonly aws: AwsSettings;

  constructor(config: AppConfig) {
    this.aws = config.aws;
  }

  get s3(): S3Client {
    this.s3Client ??= new S3Client({
      region: this.aws.region,
      endpoint: this.aws.endpoints.s3,
      forcePathStyle: this.aws.s3ForcePathStyle,
      requestChecksumCalculation: this.aws.requestChecksumCalculation,
      responseChecksumValidation: this.aws.responseChecksumValidation,
      maxAttempts: MAX_ATTEMPTS,
      retryMode: 'standard',
      requestHandler: requestHandler(),
    });
    return this.s3Client;
  }

  get sqs(): SQSClient {
    this.sqsClient ??= new SQSClient({
      region: this.aws.region,
      endpoint: this.aws.endpoints.sqs,
      maxAttempts: MAX_ATTEMPTS,
      retryMode: 'standard',
      requestHandler: requestHandler(),
    });
    return this.sqsClient;
  }

  get ec2(): EC2Client {
    // Loaded on first use: the EC2 client is the SDK's largest (about 0.7 CPU-s to load here), and
    // a local worker, which never calls EC2, would pay it in every cold start.
    const { EC2Client: Client } = require('@aws-sdk/client-ec2') as typeof import('@aws-sdk/client-ec2');
    this.ec2Client ??= new Client({
      region: this.aws.region,
      endpoint: this.aws.endpoints.ec2,
      maxAttempts: MAX_ATTEMPTS,
      retryMode: 'standard',
      requestHandler: requestHandler(),
    });
    return this.ec2Client;
  }

  get sns(): SNSClient {
    this.snsClient ??= new SNSClient({
      region: this.aws.region,
      endpoint: this.aws.endpoints.sns,
      maxAttempts: MAX_ATTEMPTS,
      retryMode: 'standard',
      requestHandler: requestHandler(),
    });
    return this.snsClient;
  }

  onApplicationShutdown(): void {
    this.destroy();
  }

  destroy(): void {
    this.s3Client?.destroy();
    this.sqsClient?.destroy();
    this.ec2Client?.destroy();
    this.snsClient?.destroy();
  }
}
