import { createHash } from 'node:crypto';
import type {
  DeleteMessageBatchRequest,
  DeleteMessageBatchResult,
  ReceiveMessageRequest,
  ReceiveMessageResult,
  SendMessageBatchRequest,
  SendMessageBatchResult,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { loadJsonRpcErrorCode } from '@aws-sdk/core/protocols';
import { HttpRequest } from '@smithy/core/protocols';
import { SignatureV4 } from '@smithy/signature-v4';
import { mapAwsError } from './errors';
import { perClient, resolvedOnce, signAndSend, serviceError, withClientRetries, type ClientParts } from './signed-requests';

/**
 * SQS's three per-image calls (SendMessageBatch, ReceiveMessage, DeleteMessageBatch)
 * made with the SQS client's own parts (its endpoint, credentials, SigV4 signer,
 * HTTP handler and retry strategy) but not its command stack, in the client's own
 * protocol (AWS JSON 1.0, query-compatible errors) and with its MD5 checks of the
 * bodies sent and received.
 *
 * Why: through the command stack (schema serde, endpoint rules, user agent, retry
 * and MD5 middleware), a SendMessageBatch of five cost 1.2 ms of CPU here; made
 * with these parts, 0.4 (tmp bench of 2026-12-04). A worker makes about 0.6 such
 * calls per image, and the command stack's allocations were a quarter of all its
 * garbage (heap sampling of `bench:classifier`).
 *
 * Where the requests go, as the client sends them: its configured endpoint if it has
 * one, else the queue URL's origin (the client's default, useQueueUrlAsEndpoint).
 */
export class QueueRequests {
  /** The client's one QueueRequests, shared by every queue on it. */
  static readonly of = perClient((sqs: SQSClient) => new QueueRequests(sqs));

  private readonly parts: ClientParts;
  private signer?: Promise<SignatureV4>;
  /** Where each queue's requests go, resolved once (a failed resolution is tried again). */
  private readonly endpoints = new Map<string, Promise<URL>>();

  constructor(private readonly sqs: SQSClient) {
    this.parts = sqs.config as unknown as ClientParts;
  }

  /** Successful and Failed, as the command returns them; a body SQS stored other than sent is a RetryableError. */
  async sendMessageBatch(input: SendMessageBatchRequest): Promise<SendMessageBatchResult> {
    const out = await this.call<SendMessageBatchResult>('SendMessageBatch', input);
    const sent = new Map((input.Entries ?? []).map((e) => [e.Id, e.MessageBody ?? '']));
    const changed = (out.Successful ?? []).filter((e) => sent.has(e.Id) && e.MD5OfMessageBody !== md5(sent.get(e.Id) ?? ''));
    if (changed.length > 0) throw checksumError('sqs.SendMessageBatch', changed.map((e) => e.MessageId ?? e.Id ?? '?'));
    return out;
  }

  /** The messages, as the command returns them; one whose body does not match its MD5 is a RetryableError. */
  async receiveMessage(input: ReceiveMessageRequest, abortSignal?: AbortSignal): Promise<ReceiveMessageResult> {
    const out = await this.call<ReceiveMessageResult>('ReceiveMessage', input, abortSignal);
    const changed = (out.Messages ?? []).filter((m) => m.MD5OfBody !== md5(m.Body ?? ''));
    if (changed.length > 0) throw checksumError('sqs.ReceiveMessage', changed.map((m) => m.MessageId ?? '?'));
    return out;
  }

  deleteMessageBatch(input: DeleteMessageBatchRequest): Promise<DeleteMessageBatchResult> {
    return this.call<DeleteMessageBatchResult>('DeleteMessageBatch', input);
  }

  /** One call, retried as the client retries. */
  private call<T>(action: string, input: { QueueUrl: string | undefined }, abortSignal?: AbortSignal): Promise<T> {
    const operation = `sqs.${action}`;
    return withClientRetries(this.parts, operation, () => this.once<T>(action, input, abortSignal));
  }

  private async once<T>(action: string, input: { QueueUrl: string | undefined }, abortSignal?: AbortSignal): Promise<T> {
    const url = await this.endpoint(input.QueueUrl ?? '');
    const request = new HttpRequest({
      method: 'POST',
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      path: url.pathname,
      headers: {
        host: url.host,
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': `AmazonSQS.${action}`,
        // Errors then also carry their older query-protocol code, as the client asks.
        'x-amzn-query-mode': 'true',
      },
      body: JSON.stringify(input),
    });
    const answer = await signAndSend(this.parts, await this.signerFor(), request, abortSignal);
    const text = Buffer.from(answer.body.buffer, answer.body.byteOffset, answer.body.byteLength).toString('utf8');
    let data: Record<string, unknown> = {};
    try {
      data = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      if (answer.statusCode < 300) throw serviceError('InvalidResponse', `${action}: the answer is not JSON`, answer.statusCode, { $retryable: {} });
    }
    if (answer.statusCode < 300) return data as T;
    // The error as the client would have thrown it: its name from __type (or the query code), the query code as Code.
    const response = { statusCode: answer.statusCode, headers: answer.headers };
    const code = loadJsonRpcErrorCode(response, data, true) ?? `HTTP ${answer.statusCode}`;
    const queryCode = answer.headers['x-amzn-query-error']?.split(';')[0];
    const message = (data['message'] ?? data['Message'] ?? `${action}: HTTP ${answer.statusCode}`) as string;
    throw serviceError(code, message, answer.statusCode, queryCode ? { Code: queryCode } : {});
  }

  private endpoint(queueUrl: string): Promise<URL> {
    return resolvedOnce(this.endpoints, queueUrl, () => this.resolve(queueUrl));
  }

  private async resolve(queueUrl: string): Promise<URL> {
    const custom = this.sqs.config.endpoint ? await this.sqs.config.endpoint() : undefined;
    if (custom) return new URL(`${custom.protocol}//${custom.hostname}${custom.port ? `:${custom.port}` : ''}${custom.path || '/'}`);
    try {
      return new URL('/', new URL(queueUrl).origin);
    } catch {
      throw mapAwsError(serviceError('InvalidAddress', `not a queue URL: ${JSON.stringify(queueUrl)}`, 400), 'sqs.endpoint');
    }
  }

  private signerFor(): Promise<SignatureV4> {
    this.signer ??= (async () => {
      const config = this.sqs.config;
      return new SignatureV4({ service: 'sqs', region: await config.region(), credentials: config.credentials, sha256: config.sha256 });
    })();
    return this.signer;
  }
}

function md5(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}

/** Bodies that changed on the way: the call is made again (the consumers of these queues are idempotent). */
function checksumError(operation: string, ids: string[]) {
  return mapAwsError(serviceError('InvalidChecksum', `MD5 of ${ids.length} message bodies do not match: ${ids.join(', ')}`, 200, { $retryable: {} }), operation);
}
