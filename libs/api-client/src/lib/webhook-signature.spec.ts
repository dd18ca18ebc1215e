import { createHmac } from 'node:crypto';
import { signWebhook, verifyWebhookSignature } from './webhook-signature';

const SECRET = 'whsec-test-0123456789abcdef0123456789abcdef';
const BODY = '{"event":"batch.finished","batchId":"b1","total":2,"done":2,"failed":0}';
const T = 1_800_000_000;
const AT_T = T * 1000;

describe('webhook signatures', () => {
  it('signs t.body with HMAC-SHA256 in the documented header format', () => {
    const hex = createHmac('sha256', SECRET).update(`${T}.${BODY}`).digest('hex');
    expect(signWebhook(SECRET, T, BODY)).toBe(`t=${T},v1=${hex}`);
  });

  it('accepts its own signature over the raw bytes, as a string or a Buffer', () => {
    const header = signWebhook(SECRET, T, BODY);
    expect(verifyWebhookSignature(SECRET, header, BODY, { now: AT_T })).toEqual({ valid: true, timestamp: T });
    expect(verifyWebhookSignature(Buffer.from(SECRET), [header], Buffer.from(BODY), { now: AT_T + 299_000 })).toEqual({ valid: true, timestamp: T });
  });

  it('rejects a forged signature: another secret, a changed body, a changed timestamp', () => {
    const header = signWebhook(SECRET, T, BODY);
    expect(verifyWebhookSignature('another-secret-0123456789abcdef0123', header, BODY, { now: AT_T })).toEqual({ valid: false, reason: 'mismatch' });
    expect(verifyWebhookSignature(SECRET, header, BODY.replace('"done":2', '"done":3'), { now: AT_T })).toEqual({ valid: false, reason: 'mismatch' });
    const moved = header.replace(`t=${T}`, `t=${T + 1}`);
    expect(verifyWebhookSignature(SECRET, moved, BODY, { now: AT_T })).toEqual({ valid: false, reason: 'mismatch' });
  });

  it('rejects a stale or future timestamp even with a valid HMAC', () => {
    const header = signWebhook(SECRET, T, BODY);
    expect(verifyWebhookSignature(SECRET, header, BODY, { now: AT_T + 301_000 })).toEqual({ valid: false, reason: 'stale' });
    expect(verifyWebhookSignature(SECRET, header, BODY, { now: AT_T - 301_000 })).toEqual({ valid: false, reason: 'stale' });
    expect(verifyWebhookSignature(SECRET, header, BODY, { now: AT_T + 3_000_000, toleranceSeconds: 3600 })).toMatchObject({ valid: true });
  });

  it('rejects a missing or malformed header', () => {
    const hex = signWebhook(SECRET, T, BODY).split('v1=')[1];
    for (const header of [undefined, null, '', `v1=${hex}`, `t=${T}`, `t=abc,v1=${hex}`, `t=${T},v1=${hex.slice(2)}`, `t=${T},v1=${'z'.repeat(64)}`]) {
      expect(verifyWebhookSignature(SECRET, header, BODY, { now: AT_T })).toEqual({ valid: false, reason: 'malformed' });
    }
  });

  it('accepts any of several v1 entries (a secret being rotated)', () => {
    const old = signWebhook('old-secret-0123456789abcdef0123456789ab', T, BODY).split('v1=')[1];
    const header = `${signWebhook(SECRET, T, BODY)},v1=${old}`;
    expect(verifyWebhookSignature('old-secret-0123456789abcdef0123456789ab', header, BODY, { now: AT_T })).toMatchObject({ valid: true });
    expect(verifyWebhookSignature(SECRET, header, BODY, { now: AT_T })).toMatchObject({ valid: true });
  });
});
