import { randomUUID } from 'node:crypto';
import { instanceToPlain } from 'class-transformer';
import {
  heartbeat,
  launchMessage,
  monitorMessage,
  outputError,
  outputSuccess,
  parseHeartbeat,
  parseLaunchMessage,
  parseMonitorMessage,
  parseOutputMessage,
  serialize,
} from './codec';
import { MessageParseError } from './errors';
import { announcedKey, batchIndexKey, batchListKey, batchListPrefix, batchPartKey, heartbeatKey, inputKey, isTenant, parseBatchListKey, parseInputKey, resultKey } from './keys';
import { MAX_FILE_NAME_BYTES, MAX_LAUNCH_MESSAGE_BYTES, SCHEMA_VERSION } from './messages';
import { jsonBytes } from './validation';

const batchId = randomUUID();
const imageId = randomUUID();
const now = new Date().toISOString();

function launchFields(over: Record<string, unknown> = {}) {
  return {
    batchId,
    imageId,
    fileName: 'cat.jpg',
    attempt: 1,
    inputKey: inputKey(batchId, imageId, 'jpg'),
    enqueuedAt: now,
    ...over,
  };
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MessageParseError);
    return (e as MessageParseError).problems;
  }
  throw new Error('expected a MessageParseError');
}

describe('LaunchMessage', () => {
  it('round-trips through serialize and parse with its schema version', () => {
    const msg = launchMessage(launchFields());
    const body = serialize(msg);
    expect(JSON.parse(body)).toMatchObject({ v: SCHEMA_VERSION, type: 'launch', imageId, attempt: 1 });
    expect(parseLaunchMessage(body)).toEqual(msg);
  });

  it('fits in 1024 bytes with the longest legal values', () => {
    // Worst case for JSON: every character of the name escaped as \" (2 bytes each),
    // or 4-byte UTF-8 characters, up to the byte limit.
    const quoted = '"'.repeat(MAX_FILE_NAME_BYTES / 2);
    const emoji = '😀'.repeat(Math.floor(MAX_FILE_NAME_BYTES / 4));
    for (const fileName of [quoted, emoji]) {
      expect(jsonBytes(fileName)).toBeLessThanOrEqual(MAX_FILE_NAME_BYTES);
      const body = serialize(
        launchMessage(
          launchFields({
            fileName,
            attempt: 100,
            handBacks: 100,
            tenant: 't'.repeat(64),
            inputKey: inputKey(batchId, imageId, 'webp'),
            enqueuedAt: '2026-11-25T13:53:20.635Z',
          }),
        ),
      );
      expect(Buffer.byteLength(body)).toBeLessThanOrEqual(MAX_LAUNCH_MESSAGE_BYTES);
    }
  });

  it('refuses a file name one byte over the limit', () => {
    const problems = problemsOf(() => launchMessage(launchFields({ fileName: 'a'.repeat(MAX_FILE_NAME_BYTES + 1) })));
    expect(problems).toEqual(['fileName must take at most 255 bytes as JSON']);
  });

  it('lists every problem of a bad message', () => {
    const body = JSON.stringify({
      v: 1,
      type: 'launch',
      batchId: 'not-a-uuid',
      imageId,
      fileName: 'a\u0007b',
      attempt: 0,
      inputKey: '../../etc/passwd',
      enqueuedAt: 'yesterday',
      extra: true,
    });
    const problems = problemsOf(() => parseLaunchMessage(body));
    expect(problems).toEqual(
      expect.arrayContaining([
        'batchId must be a UUID',
        'fileName must not contain control characters',
        'attempt must not be less than 1',
        'inputKey must be <batchId>/<imageId>.<jpg|png|webp|gif>',
        'enqueuedAt must be a valid ISO 8601 date string',
        'property extra should not exist',
      ]),
    );
    expect(problems).toHaveLength(6);
  });

  it('refuses bodies that are not JSON objects, and other schema versions', () => {
    expect(problemsOf(() => parseLaunchMessage(''))).toEqual(['body is empty']);
    expect(problemsOf(() => parseLaunchMessage('{oops'))[0]).toMatch(/^body is not JSON/);
    expect(problemsOf(() => parseLaunchMessage('[1]'))).toEqual(['body must be a JSON object']);
    const v2 = JSON.stringify({ ...JSON.parse(serialize(launchMessage(launchFields()))), v: 2 });
    expect(problemsOf(() => parseLaunchMessage(v2))).toEqual(['v must be equal to 1']);
  });

  it('refuses a body over 1024 bytes even when each field is legal', () => {
    const body = serialize(launchMessage(launchFields())).replace('{', '{' + ' '.repeat(1024));
    expect(problemsOf(() => parseLaunchMessage(body))[0]).toMatch(/more than 1024/);
  });
});

describe('MonitorMessage', () => {
  it('round-trips and validates the instance id', () => {
    const { batchId: b, imageId: i, fileName, attempt, inputKey: key } = launchFields();
    const msg = monitorMessage({
      batchId: b,
      imageId: i,
      fileName,
      attempt,
      inputKey: key,
      instanceId: 'i-0123456789abcdef0',
      startedAt: now,
      deadline: now,
    });
    expect(parseMonitorMessage(serialize(msg))).toEqual(msg);
    const bad = JSON.stringify({ ...JSON.parse(serialize(msg)), instanceId: 'has space' });
    expect(problemsOf(() => parseMonitorMessage(bad))).toEqual([
      'instanceId must be 1-64 of [A-Za-z0-9._:-]',
    ]);
  });
});

describe('MonitorMessage carries the hard deadline and hand-back count', () => {
  it('carries the hard deadline and the hand-back count, both optional', () => {
    const { batchId: b, imageId: i, fileName, attempt, inputKey: key } = launchFields();
    const fields = { batchId: b, imageId: i, fileName, attempt, inputKey: key, instanceId: 'local-3', startedAt: now, deadline: now };
    const full = monitorMessage({ ...fields, hardDeadline: now, handBacks: 2 });
    expect(parseMonitorMessage(serialize(full))).toEqual(full);
    expect(problemsOf(() => monitorMessage({ ...fields, hardDeadline: 'tomorrow' }))).toEqual(['hardDeadline must be a valid ISO 8601 date string']);
    expect(problemsOf(() => launchMessage(launchFields({ handBacks: -1 })))).toEqual(['handBacks must not be less than 0']);
  });

  it('checks its hand-back count, worker and session as the launch message and the heartbeat do', () => {
    const { batchId: b, imageId: i, fileName, attempt, inputKey: key } = launchFields();
    const fields = { batchId: b, imageId: i, fileName, attempt, inputKey: key, instanceId: 'i-0abc:local.3', startedAt: now, deadline: now, session: 's-1' };
    expect(parseMonitorMessage(serialize(monitorMessage(fields)))).toEqual(monitorMessage(fields));
    expect(problemsOf(() => monitorMessage({ ...fields, handBacks: 101 }))).toEqual(['handBacks must not be greater than 100']);
    expect(problemsOf(() => launchMessage(launchFields({ handBacks: 101 })))).toEqual(['handBacks must not be greater than 100']);
    expect(problemsOf(() => monitorMessage({ ...fields, handBacks: 1.5 }))).toEqual(['handBacks must be an integer number']);
    expect(problemsOf(() => monitorMessage({ ...fields, session: 'a b' }))).toEqual(['session must be 1-64 of [A-Za-z0-9_-]']);
    expect(problemsOf(() => monitorMessage({ ...fields, instanceId: 'i/../x' }))).toEqual(['instanceId must be 1-64 of [A-Za-z0-9._:-]']);
    const beat = { workerId: 'i/../x', at: now, progressAt: now, imagesDone: 0, held: [{ imageId: i, attempt: 1, handBacks: 101 }], handedBack: [], failed: [] };
    expect(problemsOf(() => heartbeat(beat))).toEqual(['workerId must be 1-64 of [A-Za-z0-9._:-]', 'held.0.handBacks must not be greater than 100']);
  });
});

describe('Heartbeat', () => {
  const fields = {
    workerId: 'i-0123456789abcdef0',
    at: now,
    progressAt: now,
    imagesDone: 7,
    held: [{ imageId, attempt: 1 }],
    handedBack: [{ imageId: batchId, attempt: 2 }],
    failed: [],
  };

  it('round-trips, and lives under heartbeats/ next to the results', () => {
    const beat = heartbeat(fields);
    expect(parseHeartbeat(serialize(beat))).toEqual(beat);
    expect(heartbeatKey('local-4')).toBe('heartbeats/local-4.json');
    expect(announcedKey(imageId)).toBe(`announced/${imageId}`);
  });

  it('refuses a held image without a valid id or attempt', () => {
    const bad = JSON.stringify({ ...JSON.parse(serialize(heartbeat(fields))), held: [{ imageId: 'x', attempt: 0 }] });
    expect(problemsOf(() => parseHeartbeat(bad))).toEqual(['held.0.imageId must be a UUID', 'held.0.attempt must not be less than 1']);
  });

  it.each(['held', 'handedBack', 'failed'])('checks every take in %s, and takes at most 1000 of them', (list) => {
    const beat = JSON.parse(serialize(heartbeat(fields))) as Record<string, unknown>;
    expect(problemsOf(() => parseHeartbeat(JSON.stringify({ ...beat, [list]: [{ imageId, attempt: 101 }] })))).toEqual([`${list}.0.attempt must not be greater than 100`]);
    const many = Array.from({ length: 1001 }, () => ({ imageId, attempt: 1 }));
    expect(problemsOf(() => parseHeartbeat(JSON.stringify({ ...beat, [list]: many })))).toEqual([`${list} must contain no more than 1000 elements`]);
    expect(problemsOf(() => parseHeartbeat(JSON.stringify({ ...beat, [list]: 'none' })))).toContain(`${list} must be an array`);
  });

  it('names the worker session, and whether it is the session\'s last beat', () => {
    const beat = heartbeat({ ...fields, session: 'b3c1-x_9', final: true });
    expect(parseHeartbeat(serialize(beat))).toMatchObject({ session: 'b3c1-x_9', final: true });
    const bad = JSON.stringify({ ...JSON.parse(serialize(beat)), session: 'a b' });
    expect(problemsOf(() => parseHeartbeat(bad))).toEqual(['session must be 1-64 of [A-Za-z0-9_-]']);
  });
});

describe('OutputMessage', () => {
  const base = { batchId, imageId, fileName: 'cat.jpg', attempt: 1, producedBy: 'local-1', completedAt: now };

  it('parses the success variant with its top-5', () => {
    const msg = outputSuccess({
      ...base,
      label: 'tabby',
      confidence: 0.5,
      top5: [{ label: 'tabby', classIndex: 281, confidence: 0.5 }],
      timings: { inferenceMs: 8, totalMs: 20 },
      backend: 'wasm',
    });
    const parsed = parseOutputMessage(serialize(msg));
    expect(parsed.status).toBe('ok');
    expect(parsed).toEqual(msg);
  });

  it('parses the error variant and validates nested predictions', () => {
    const msg = outputError({ ...base, reason: 'image cannot be decoded', permanent: true });
    expect(parseOutputMessage(serialize(msg))).toEqual(msg);
    const bad = JSON.stringify({
      ...JSON.parse(serialize(msg)),
      status: 'ok',
      label: 'x',
      confidence: 2,
      top5: [{ label: 'x', classIndex: -1, confidence: 0.1 }],
      timings: {},
      reason: undefined,
      permanent: undefined,
    });
    expect(problemsOf(() => parseOutputMessage(bad))).toEqual([
      'confidence must not be greater than 1',
      'top5.0.classIndex must not be less than 0',
    ]);
    expect(problemsOf(() => parseOutputMessage('{"status":"maybe"}'))).toEqual([
      'status must be "ok" or "error"',
    ]);
  });
});

describe('key layout', () => {
  it('makes input keys from ids only and parses them back', () => {
    const key = inputKey(batchId, imageId, 'png');
    expect(key).toBe(`${batchId}/${imageId}.png`);
    expect(parseInputKey(key)).toEqual({ batchId, imageId, ext: 'png' });
    expect(parseInputKey(`${batchId}/../${imageId}.png`)).toBeUndefined();
    expect(resultKey(imageId)).toBe(`results/${imageId}.json`);
  });

  it("keeps a tenant's batch index under the tenant, and lists batches newest first", () => {
    expect(batchIndexKey('acme', batchId)).toBe(`batches/acme/${batchId}/batch.json`);
    expect(batchPartKey('acme', batchId, 5, 'x') < batchPartKey('acme', batchId, 40, 'a')).toBe(true);
    const older = batchListKey('acme', batchId, Date.parse('2026-01-01T00:00:00Z'));
    const newer = batchListKey('acme', imageId, Date.parse('2026-06-01T00:00:00Z'));
    expect(older.startsWith(batchListPrefix('acme'))).toBe(true);
    expect([older, newer].sort()).toEqual([newer, older]);
    expect(parseBatchListKey(older)).toEqual({ tenant: 'acme', batchId, createdAtMs: Date.parse('2026-01-01T00:00:00Z') });
    expect(parseBatchListKey(`batch-list/acme/../${batchId}`)).toBeUndefined();
    expect([isTenant('k-0123456789'), isTenant('a/b'), isTenant(''), isTenant('x'.repeat(65))]).toEqual([true, false, false, false]);
  });
});

describe('serialize', () => {
  it("writes a message's own fields, nested ones included, as class-transformer's instanceToPlain would", () => {
    const messages = [
      launchMessage(launchFields({ tenant: 'acme', handBacks: 2 })),
      monitorMessage({ batchId, imageId, fileName: 'cat.jpg', attempt: 1, inputKey: inputKey(batchId, imageId, 'jpg'), instanceId: 'local-1', startedAt: now, deadline: now, handBacks: 1, tenant: 'acme' }),
      outputSuccess({
        batchId,
        imageId,
        fileName: 'cat.jpg',
        attempt: 1,
        producedBy: 'local-1',
        completedAt: now,
        label: 'tabby',
        confidence: 0.5,
        top5: [{ label: 'tabby', classIndex: 281, confidence: 0.5 }, { label: 'tiger cat', classIndex: 282, confidence: 0.25 }],
        timings: { inferenceMs: 8, totalMs: 20 },
        backend: 'wasm',
      }),
      outputError({ batchId, imageId, fileName: 'cat.jpg', attempt: 3, producedBy: 'monitor', completedAt: now, reason: 'gave up', permanent: false }),
      heartbeat({ workerId: 'local-1', at: now, progressAt: now, imagesDone: 7, held: [{ imageId, attempt: 1 }], handedBack: [], failed: [{ imageId: batchId, attempt: 2 }] }),
    ];
    for (const msg of messages) expect(serialize(msg)).toBe(JSON.stringify(instanceToPlain(msg)));
  });
});
