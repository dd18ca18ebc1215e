import { parseLaunchMessage } from './codec';
import { MessageParseError } from './errors';
import { LaunchMessage, MAX_LAUNCH_MESSAGE_BYTES } from './messages';
import { plainLaunchMessage } from './plain-launch';
import { parseJson } from './validation';

/** The launch message as the validators alone read it (parseLaunchMessage before plain-launch.ts). */
function validated(body: string): LaunchMessage {
  const msg = parseJson(LaunchMessage, body, 'launch');
  const bytes = Buffer.byteLength(body);
  if (bytes > MAX_LAUNCH_MESSAGE_BYTES) throw new MessageParseError('launch', [`message takes ${bytes} bytes, more than ${MAX_LAUNCH_MESSAGE_BYTES}`]);
  return msg;
}

/** What a parser did: the message it read (and its class), or the error's class and its reasons. */
function outcome(parse: () => LaunchMessage): unknown {
  try {
    const msg = parse();
    return { read: JSON.parse(JSON.stringify(msg)), isLaunchMessage: msg instanceof LaunchMessage };
  } catch (err) {
    return { refused: (err as Error).constructor.name, reasons: (err as MessageParseError).problems };
  }
}

// Fixed ids, so that every case is the same from one run to the next.
const batchId = '3f2a9c1e-7b4d-4e8a-9c2f-1a2b3c4d5e6f';
const imageId = '0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d';
const fields: Record<string, unknown> = {
  v: 1,
  type: 'launch',
  batchId,
  imageId,
  fileName: 'n01440764_tench.JPEG',
  attempt: 1,
  inputKey: `${batchId}/${imageId}.jpg`,
  enqueuedAt: '2026-12-04T08:00:00.123Z',
};
const body = (change: Record<string, unknown> = {}) => JSON.stringify({ ...fields, ...change });

describe('parseLaunchMessage', () => {
  it.each<[string, Record<string, unknown>]>([
    ['a first attempt', {}],
    ['a hand-back of a tenant', { attempt: 3, handBacks: 2, tenant: 'team-a' }],
    ['the highest counts', { attempt: 100, handBacks: 100 }],
    ['a file name with spaces and punctuation', { fileName: "my photo (1) [final]'s.png" }],
  ])('reads %s without the validators, as they read it', (_name, change) => {
    const plain = plainLaunchMessage(body(change));
    expect(plain).toBeInstanceOf(LaunchMessage);
    expect(outcome(() => parseLaunchMessage(body(change)))).toEqual(outcome(() => validated(body(change))));
    expect(outcome(() => parseLaunchMessage(body(change)))).toMatchObject({ read: { ...fields, ...change }, isLaunchMessage: true });
  });

  it.each<[string, Record<string, unknown>]>([
    ['capital letters in a UUID', { batchId: batchId.toUpperCase() }],
    ['a file name with a quote', { fileName: 'say "cheese".jpg' }],
    ['a file name with a backslash', { fileName: 'a\\b.jpg' }],
    ['a file name in another script', { fileName: 'фото.jpg' }],
    ['a file name of 255 bytes with an emoji', { fileName: `${'x'.repeat(251)}😀` }],
    ['a time with an offset', { enqueuedAt: '2026-12-04T09:00:00.123+01:00' }],
    ['a time without milliseconds', { enqueuedAt: '2026-12-04T08:00:00Z' }],
    ['a year before 1000', { enqueuedAt: '0999-12-04T08:00:00.000Z' }],
    ['handBacks null', { handBacks: null }],
    ['tenant null', { tenant: null }],
    ['a __proto__ key (the validators ignore it)', JSON.parse(body().replace(/}$/, ',"__proto__":{"v":2}}')) as Record<string, unknown>],
  ])('leaves %s to the validators, who decide', (_name, change) => {
    expect(plainLaunchMessage(body(change))).toBeUndefined();
    expect(outcome(() => parseLaunchMessage(body(change)))).toEqual(outcome(() => validated(body(change))));
  });

  it.each<[string, string]>([
    ['another schema version', body({ v: 2 })],
    ['a version as a string', body({ v: '1' })],
    ['another type', body({ type: 'monitor' })],
    ['a version 1 UUID', body({ imageId: 'a8098c1a-f86e-11da-bd1a-00112444be1e' })],
    ['a UUID with a bad variant', body({ batchId: batchId.replace('-9c2f-', '-cc2f-') })],
    ['attempt 0', body({ attempt: 0 })],
    ['attempt 101', body({ attempt: 101 })],
    ['attempt 1.5', body({ attempt: 1.5 })],
    ['attempt as a string', body({ attempt: '1' })],
    ['handBacks -1', body({ handBacks: -1 })],
    ['handBacks 101', body({ handBacks: 101 })],
    ['an input key with more after it', body({ inputKey: `${batchId}/${imageId}.jpgx` })],
    ['an input key with another extension', body({ inputKey: `${batchId}/${imageId}.svg` })],
    ['an input key with capitals', body({ inputKey: `${batchId}/${imageId}.jpg`.toUpperCase() })],
    ['the 30th of February', body({ enqueuedAt: '2026-02-30T08:00:00.000Z' })],
    ['month 13', body({ enqueuedAt: '2026-13-01T08:00:00.000Z' })],
    ['hour 24:30', body({ enqueuedAt: '2026-12-04T24:30:00.000Z' })],
    ['a time that is not one', body({ enqueuedAt: 'yesterday' })],
    ['a time as a number', body({ enqueuedAt: 1796371201103 })],
    ['an empty file name', body({ fileName: '' })],
    ['a file name with a newline', body({ fileName: 'a\nb.jpg' })],
    ['a file name with DEL', body({ fileName: 'a\u007fb.jpg' })],
    ['a file name of 256 bytes', body({ fileName: 'x'.repeat(256) })],
    ['a file name as a number', body({ fileName: 7 })],
    ['a tenant with a dot', body({ tenant: 'team.a' })],
    ['a tenant of 65 characters', body({ tenant: 't'.repeat(65) })],
    ['a key it does not know', body({ priority: 1 })],
    ['a missing field', JSON.stringify({ ...fields, inputKey: undefined })],
    ['more than 1 KB', body({ fileName: 'x'.repeat(250), tenant: 't'.repeat(64) }).replace(/}$/, `,"tenant2":"${'y'.repeat(700)}"}`)],
    ['an array', JSON.stringify([fields])],
    ['null', 'null'],
    ['a string', '"launch"'],
    ['not JSON', '{"v":1,'],
    ['an empty body', ''],
  ])('refuses %s with the validators’ reasons', (_name, text) => {
    expect(plainLaunchMessage(text)).toBeUndefined();
    const fast = outcome(() => parseLaunchMessage(text));
    expect(fast).toMatchObject({ refused: 'MessageParseError' });
    expect(fast).toEqual(outcome(() => validated(text)));
  });

  it('comes to the validators’ verdict on a thousand messages mixed from good and bad fields', () => {
    const choices: Record<string, unknown[]> = {
      v: [1, 1, 2, '1'],
      type: ['launch', 'launch', 'output'],
      batchId: [batchId, batchId, batchId.toUpperCase(), 'not-a-uuid'],
      imageId: [imageId, imageId, 'a8098c1a-f86e-11da-bd1a-00112444be1e'],
      fileName: ['a.jpg', 'a.jpg', '', 'é.jpg', 'x'.repeat(255), 'x'.repeat(256), 'a\tb', '"'],
      attempt: [1, 2, 0, 100, 101, 2.5, '2'],
      inputKey: [`${batchId}/${imageId}.jpg`, `${batchId}/${imageId}.gif`, `${imageId}/${batchId}.png`, 'x'],
      enqueuedAt: ['2026-12-04T08:00:00.000Z', '2024-02-29T23:59:59.999Z', '2025-02-29T00:00:00.000Z', '2026-12-04', '2026-12-04T08:00:00.000+00:00'],
      handBacks: [undefined, undefined, 0, 100, 101, -1, null, 1.5],
      tenant: [undefined, undefined, 'a', 'team_A-1', '-a', '', null],
    };
    // A fixed sequence (a linear congruential generator), so that a failure is found again.
    let seed = 12345;
    const pick = <T>(xs: T[]) => xs[(seed = (seed * 1103515245 + 12345) % 2 ** 31) % xs.length];
    let plain = 0;
    for (let i = 0; i < 1000; i++) {
      const text = JSON.stringify(Object.fromEntries(Object.entries(choices).map(([k, xs]) => [k, pick(xs)])));
      if (plainLaunchMessage(text)) plain++;
      expect([text, outcome(() => parseLaunchMessage(text))]).toEqual([text, outcome(() => validated(text))]);
    }
    expect(plain).toBeGreaterThan(10); // the plain path was taken, not only the validators'
  });
});
