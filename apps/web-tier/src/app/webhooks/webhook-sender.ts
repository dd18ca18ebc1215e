import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import { request as httpRequest, Agent as HttpAgent, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import type { LookupFunction } from 'node:net';
import { signWebhook, WEBHOOK_DELIVERY_HEADER, WEBHOOK_SIGNATURE_HEADER } from '@app/api-client/webhooks';
import { isForbiddenAddress } from './forbidden-addresses';
import { callbackUrlProblem } from './webhook-policy';
import type { WebhookDelivery } from './webhook-delivery';

/** Resolves a host name to every address (dns.lookup's shape), injectable for tests. */
export type Resolver = (hostname: string, options: LookupAllOptions, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

export interface WebhookSenderOptions {
  /** Production: https only, and no loopback, link-local or private address, checked on the address connected to. */
  production: boolean;
  /** The whole request, connection to last response byte; default 10 s. */
  timeoutMs?: number;
  /** Response bytes read at most (the body is not needed, only the status); default 64 KiB. */
  maxResponseBytes?: number;
  resolve?: Resolver;
}

/** How an attempt went: `retry` false means another attempt cannot do better. */
export type SendOutcome = { delivered: true; status: number } | { delivered: false; retry: boolean; reason: string };

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;

class ForbiddenAddressError extends Error {
  override readonly name = 'ForbiddenAddressError';
}

/**
 * POSTs one signed delivery. Redirects are not followed (a 3xx is a failed
 * attempt): following one would be a second request to a place nobody
 * checked. In production the agent's `lookup` drops every forbidden address
 * that DNS gives, so the address checked is the address connected to (a name
 * cannot resolve to a public address for the check and a private one for the
 * connection); an address literal in the URL is checked before connecting.
 */
export class WebhookSender {
  private readonly production: boolean;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly httpsAgent: HttpsAgent;
  private readonly httpAgent: HttpAgent;

  constructor(options: WebhookSenderOptions) {
    this.production = options.production;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    const lookup = this.production ? guardedLookup(options.resolve ?? (dnsLookup as unknown as Resolver)) : undefined;
    // No keep-alive: deliveries to one receiver are far apart, and an idle socket is one more thing to bound.
    this.httpsAgent = new HttpsAgent({ keepAlive: false, lookup });
    this.httpAgent = new HttpAgent({ keepAlive: false, lookup });
  }

  async send(delivery: WebhookDelivery, secret: Buffer, nowMs: number): Promise<SendOutcome> {
    const problem = callbackUrlProblem(delivery.callbackUrl, this.production);
    if (problem) return { delivered: false, retry: false, reason: problem };
    const url = new URL(delivery.callbackUrl);
    const body = Buffer.from(delivery.body);
    const headers = {
      'content-type': 'application/json',
      'content-length': String(body.length),
      'user-agent': 'ics-webhooks/1',
      [WEBHOOK_SIGNATURE_HEADER]: signWebhook(secret, Math.floor(nowMs / 1000), body),
      [WEBHOOK_DELIVERY_HEADER]: delivery.deliveryId,
    };
    const https = url.protocol === 'https:';
    try {
      const status = await this.post(url, headers, body, https);
      if (status >= 200 && status < 300) return { delivered: true, status };
      return { delivered: false, retry: true, reason: `the receiver answered ${status}` };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e instanceof ForbiddenAddressError) return { delivered: false, retry: false, reason: e.message };
      return { delivered: false, retry: true, reason: `${e.code ?? e.name}: ${e.message}` };
    }
  }

  private post(url: URL, headers: Record<string, string>, body: Buffer, https: boolean): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const options = { method: 'POST', headers, agent: https ? this.httpsAgent : this.httpAgent };
      const req: ClientRequest = (https ? httpsRequest : httpRequest)(url, options, (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          // The status is the answer; a receiver that streams on is cut off rather than read.
          if (read > this.maxResponseBytes) res.destroy();
        });
        res.on('close', () => {
          clearTimeout(timer);
          resolve(status);
        });
      });
      const timer = setTimeout(() => req.destroy(Object.assign(new Error(`no answer within ${this.timeoutMs} ms`), { code: 'ETIMEDOUT' })), this.timeoutMs);
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.end(body);
    });
  }

  close(): void {
    this.httpsAgent.destroy();
    this.httpAgent.destroy();
  }
}

/** A `lookup` for an agent that never hands a forbidden address to the connection. */
function guardedLookup(resolve: Resolver): LookupFunction {
  const lookup = (hostname: string, options: { all?: boolean; family?: number | string }, callback: (...args: unknown[]) => void) => {
    resolve(hostname, { ...(options as LookupAllOptions), all: true }, (err, addresses) => {
      if (err) return callback(err);
      const allowed = addresses.filter((a) => !isForbiddenAddress(a.address));
      if (allowed.length === 0) return callback(new ForbiddenAddressError(`${hostname} resolves only to loopback, link-local or private addresses`));
      if (options.all) return callback(null, allowed);
      return callback(null, allowed[0].address, allowed[0].family);
    });
  };
  return lookup as unknown as LookupFunction;
}
