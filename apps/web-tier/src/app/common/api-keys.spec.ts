import { createHash } from 'node:crypto';
import { loadConfig } from '@app/config';
import { ApiKeys, parseKeyEntry } from './api-keys';

const queues = {
  LAUNCH_QUEUE_URL: 'http://127.0.0.1:1/q/launch',
  MONITOR_QUEUE_URL: 'http://127.0.0.1:1/q/monitor',
  OUTPUT_QUEUE_URL: 'http://127.0.0.1:1/q/output',
};
const keysOf = async (apiKeys: string) => {
  const keys = new ApiKeys(loadConfig({ ...queues, API_KEYS: apiKeys }));
  await keys.load();
  return keys;
};
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

describe('API keys name tenants', () => {
  it('reads tenant=key, names a bare key k-<first 10 hex of its SHA-256>, and keeps base64 padding in a bare key', () => {
    expect(parseKeyEntry(`acme=${A}`)).toEqual({ tenant: 'acme', key: A });
    const hex = createHash('sha256').update(B).digest('hex').slice(0, 10);
    expect(parseKeyEntry(B)).toEqual({ tenant: `k-${hex}`, key: B });
    const padded = `${'Q'.repeat(42)}==`;
    expect(parseKeyEntry(padded).key).toBe(padded);
    // Not a tenant name before the "=": the whole entry is the key.
    expect(parseKeyEntry(`a/b=${A}`).key).toBe(`a/b=${A}`);
  });

  it("finds a request's tenant by its key, default without keys, none for a wrong key", async () => {
    const keys = await keysOf(`acme=${A},${B}`);
    expect(keys.tenantOf(Buffer.from(A))).toBe('acme');
    expect(keys.tenantOf(Buffer.from(B))).toMatch(/^k-[0-9a-f]{10}$/);
    expect(keys.tenantOf(Buffer.from('c'.repeat(40)))).toBeUndefined();
    expect((await keysOf('')).tenantOf(Buffer.from(''))).toBe('default');
  });

  it('refuses one key given to two tenants, and short keys, without printing them', async () => {
    await expect(keysOf(`acme=${A},other=${A}`)).rejects.toThrow(/key 2 of 2 is also the key of tenant acme/);
    await expect(keysOf('acme=short')).rejects.toThrow(/key 1 of 1 has 5 bytes/);
    await expect(keysOf('acme=short')).rejects.not.toThrow(/short/);
  });
});
