import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EdgeProxy } from './edge-proxy';

describe('EdgeProxy', () => {
  let upstream: Server;
  let proxy: EdgeProxy;

  beforeAll(async () => {
    upstream = createServer((req, res) => res.end(`upstream saw ${req.url}`));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    proxy = await EdgeProxy.start(new URL(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`));
  });
  afterAll(async () => {
    await proxy?.stop();
    await new Promise((r) => upstream.close(r));
  });

  it('passes requests through to the edge', async () => {
    const res = await fetch(`${proxy.endpoint}/bucket/key`);
    expect(await res.text()).toBe('upstream saw /bucket/key');
  });

  it('refuses connections while cut, on the same address again afterwards', async () => {
    const endpoint = proxy.endpoint;
    const restored = proxy.cutFor(1500);
    await new Promise((r) => setTimeout(r, 100));
    expect(proxy.isCut).toBe(true);
    const during = await fetch(`${endpoint}/x`).then(
      () => 'answered',
      (err: Error & { cause?: { code?: string } }) => err.cause?.code,
    );
    expect(during).toBe('ECONNREFUSED');

    await restored;
    expect(proxy.endpoint).toBe(endpoint);
    expect(await (await fetch(`${endpoint}/y`)).text()).toBe('upstream saw /y');
  });

  it('resets connections that were open when the edge was cut', async () => {
    const slow = createServer(() => undefined); // never answers
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
    const p = await EdgeProxy.start(new URL(`http://127.0.0.1:${(slow.address() as AddressInfo).port}`));
    try {
      const pending = fetch(`${p.endpoint}/hang`).then(
        () => 'answered',
        () => 'failed',
      );
      await new Promise((r) => setTimeout(r, 200));
      void p.cutFor(500);
      expect(await pending).toBe('failed');
    } finally {
      await p.stop();
      slow.closeAllConnections();
      await new Promise((r) => slow.close(r));
    }
  });
});
