import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LookupAddress } from 'node:dns';
import { ConfigError } from '@app/config';
import { isForbiddenAddress } from './forbidden-addresses';
import { BadRequestException } from '@nestjs/common';
import { PendingWebhookBatches } from './pending-webhook-batches';
import { callbackUrlProblem, WebhookPolicy } from './webhook-policy';
import { parseWebhookSecrets, WebhookSecrets } from './webhook-secrets';
import { WebhookSender, type Resolver } from './webhook-sender';
import type { WebhookDelivery } from './webhook-delivery';

const SECRET = Buffer.from('s'.repeat(40));
const BATCH = '8d3f1c8e-2b7a-4f6e-9c1d-0a5b6c7d8e9f';

function delivery(callbackUrl: string): WebhookDelivery {
  return { v: 1, deliveryId: BATCH, tenant: 'alpha', batchId: BATCH, callbackUrl, body: '{"batchId":"x"}', firstEnqueuedAt: 0, attempt: 1 };
}

/** A resolver that answers every name with these addresses, and counts the names it was asked. */
function resolverTo(addresses: string[]): Resolver & { asked: string[] } {
  const asked: string[] = [];
  const resolve = ((hostname, _options, callback) => {
    asked.push(hostname);
    callback(null, addresses.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 })));
  }) as Resolver & { asked: string[] };
  resolve.asked = asked;
  return resolve;
}

describe('forbidden addresses', () => {
  it.each([
    ['127.0.0.1'], ['10.1.2.3'], ['172.16.0.9'], ['192.168.1.1'], ['169.254.169.254'], ['100.64.0.1'], ['0.0.0.0'], ['224.0.0.1'],
    ['::1'], ['::'], ['fe80::1'], ['fd00::1'], ['::ffff:127.0.0.1'], ['::ffff:a9fe:a9fe'], ['64:ff9b::10.0.0.1'], ['not-an-address'],
  ])('refuses %s', (address) => expect(isForbiddenAddress(address)).toBe(true));

  it.each([['93.184.216.34'], ['8.8.8.8'], ['2606:4700:4700::1111'], ['::ffff:8.8.8.8'], ['64:ff9b::8.8.8.8']])('allows %s', (address) =>
    expect(isForbiddenAddress(address)).toBe(false),
  );
});

describe('callbackUrl rules', () => {
  it('allows http and loopback locally, refuses other schemes and credentials everywhere', () => {
    expect(callbackUrlProblem('http://127.0.0.1:8080/hook', false)).toBeUndefined();
    expect(callbackUrlProblem('ftp://example.com/x', false)).toMatch(/http\(s\)/);
    expect(callbackUrlProblem('https://user:pw@example.com/x', false)).toMatch(/credentials/);
  });

  it('in production: https only, no private address literal, no localhost', () => {
    expect(callbackUrlProblem('https://hooks.example.com/ics', true)).toBeUndefined();
    expect(callbackUrlProblem('http://hooks.example.com/ics', true)).toBe('callbackUrl must use https');
    for (const url of ['https://127.0.0.1/x', 'https://[::1]:8443/x', 'https://169.254.169.254/latest', 'https://10.0.0.8/x', 'https://localhost/x', 'https://a.localhost/x']) {
      expect(callbackUrlProblem(url, true)).toMatch(/private address/);
    }
  });
});

describe('WebhookPolicy (creating a batch)', () => {
  const policy = (production: boolean, webhookQueue?: string) => {
    const config = { web: { production, webhookSecrets: [`alpha=${'a'.repeat(32)}`] }, queues: { webhook: webhookQueue } } as never;
    return new WebhookPolicy(config, new WebhookSecrets(config), new PendingWebhookBatches());
  };

  it('answers 400 with the reason: not https or a private address in production, no secret, webhooks off', () => {
    const prod = policy(true, 'https://sqs.example/q');
    expect(() => prod.check('alpha', 'https://hooks.example.com/x')).not.toThrow();
    expect(() => prod.check('alpha', 'http://hooks.example.com/x')).toThrow(new BadRequestException('callbackUrl must use https'));
    expect(() => prod.check('alpha', 'https://169.254.169.254/latest')).toThrow(/private address/);
    expect(() => prod.check('beta', 'https://hooks.example.com/x')).toThrow(/tenant beta has no webhook secret/);
    expect(() => policy(false).check('alpha', 'http://127.0.0.1:1/x')).toThrow(/webhooks are not configured/);
    expect(() => policy(false).check('alpha', undefined)).not.toThrow();
  });
});

describe('WEBHOOK_SECRETS', () => {
  it('reads tenant=secret entries and names a bad entry by position, never printing a secret', () => {
    expect(parseWebhookSecrets([`alpha=${'a'.repeat(32)}`, `beta=${'b'.repeat(40)}`]).get('beta')?.toString()).toBe('b'.repeat(40));
    const bad = () => parseWebhookSecrets([`alpha=short-secret-xyz`, 'no-tenant-here-0123456789abcdef0123456789', `alpha=${'c'.repeat(32)}`, `alpha=${'d'.repeat(32)}`]);
    expect(bad).toThrow(ConfigError);
    try {
      bad();
    } catch (err) {
      const message = (err as Error).message;
      expect(message).toMatch(/entry 1 of 4 \(tenant alpha\) has 16 bytes/);
      expect(message).toMatch(/entry 2 of 4 is not tenant=secret/);
      expect(message).toMatch(/entry 4 of 4 is a second secret for tenant alpha/);
      expect(message).not.toMatch(/short-secret|no-tenant-here|cccc|dddd/);
    }
  });
});

describe('WebhookSender', () => {
  let server: Server;
  let url: string;
  const seen: { headers: Record<string, unknown>; body: string }[] = [];
  let answer: (res: import('node:http').ServerResponse) => void = (res) => res.end();

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ headers: req.headers, body });
        answer(res);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  beforeEach(() => (seen.length = 0));

  it('in production refuses, before any connection, a name that resolves to a private address (checked after DNS)', async () => {
    const resolve = resolverTo(['10.0.0.5', '127.0.0.1']);
    const sender = new WebhookSender({ production: true, resolve });
    const port = (server.address() as AddressInfo).port;
    try {
      const out = await sender.send(delivery(`https://hooks.example.test:${port}/hook`), SECRET, Date.now());
      expect(out).toEqual({ delivered: false, retry: false, reason: 'hooks.example.test resolves only to loopback, link-local or private addresses' });
      expect(resolve.asked).toEqual(['hooks.example.test']);
      expect(await sender.send(delivery(`https://127.0.0.1:${port}/hook`), SECRET, Date.now())).toMatchObject({ delivered: false, retry: false });
      expect(await sender.send(delivery(url), SECRET, Date.now())).toEqual({ delivered: false, retry: false, reason: 'callbackUrl must use https' });
      expect(seen).toHaveLength(0);
    } finally {
      sender.close();
    }
  });

  it('does not follow a redirect: a 3xx is a failed attempt, to be retried', async () => {
    answer = (res) => res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
    const sender = new WebhookSender({ production: false });
    try {
      expect(await sender.send(delivery(url), SECRET, Date.now())).toEqual({ delivered: false, retry: true, reason: 'the receiver answered 302' });
      expect(seen).toHaveLength(1);
    } finally {
      sender.close();
    }
  });

  it('bounds the response it reads and the time it waits', async () => {
    answer = (res) => {
      res.writeHead(200);
      // Far more than the sender reads; it stops reading at its bound.
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const write = () => {
        while (res.write(chunk));
      };
      res.on('drain', write);
      write();
    };
    const sender = new WebhookSender({ production: false, maxResponseBytes: 1024, timeoutMs: 5_000 });
    try {
      expect(await sender.send(delivery(url), SECRET, Date.now())).toEqual({ delivered: true, status: 200 });
      answer = () => undefined; // never answers
      const slow = new WebhookSender({ production: false, timeoutMs: 300 });
      try {
        expect(await slow.send(delivery(url), SECRET, Date.now())).toMatchObject({ delivered: false, retry: true, reason: expect.stringMatching(/^ETIMEDOUT/) });
      } finally {
        slow.close();
      }
    } finally {
      sender.close();
      server.closeAllConnections();
    }
  });
});
