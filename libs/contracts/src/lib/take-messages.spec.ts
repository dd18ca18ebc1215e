import { randomUUID } from 'node:crypto';
import { launchMessage, monitorMessage, outputSuccess, parseLaunchMessage, parseMonitorMessage, parseOutputMessage, serialize } from './codec';
import { MessageParseError } from './errors';
import type { Prediction, Timings } from './messages';
import { monitorMessageOf, outputSuccessOf, type Classified, type Take } from './take-messages';

function parsedLaunch(extra: { handBacks?: number; tenant?: string } = {}) {
  const batchId = randomUUID();
  const imageId = randomUUID();
  return parseLaunchMessage(
    serialize(launchMessage({ batchId, imageId, fileName: 'n01440764_tench.JPEG', attempt: 2, inputKey: `${batchId}/${imageId}.jpg`, enqueuedAt: new Date().toISOString(), ...extra })),
  );
}

/** What either path did: the message made, or the error's class and its reasons. */
function outcome(make: () => object): unknown {
  try {
    return { made: JSON.parse(JSON.stringify(make())) };
  } catch (err) {
    return { refused: (err as Error).constructor.name, reasons: (err as MessageParseError).problems };
  }
}

const t0 = new Date('2026-12-04T06:00:00.000Z');
const take: Take = { instanceId: 'i-0123456789abcdef0', session: 'abc_DEF-1', startedAt: t0, deadline: new Date(t0.getTime() + 120_000), hardDeadline: new Date(t0.getTime() + 600_000) };

describe('monitorMessageOf', () => {
  const launch = parsedLaunch({ handBacks: 3, tenant: 'team-a' });
  const validated = (t: Take) =>
    monitorMessage({
      batchId: launch.batchId,
      imageId: launch.imageId,
      fileName: launch.fileName,
      attempt: launch.attempt,
      inputKey: launch.inputKey,
      instanceId: t.instanceId,
      ...(t.session !== undefined ? { session: t.session } : {}),
      startedAt: Number.isFinite(t.startedAt.getTime()) ? t.startedAt.toISOString() : 'Invalid Date',
      deadline: Number.isFinite(t.deadline.getTime()) ? t.deadline.toISOString() : 'Invalid Date',
      ...(t.hardDeadline ? { hardDeadline: t.hardDeadline.toISOString() } : {}),
      handBacks: launch.handBacks,
      tenant: launch.tenant,
    });

  it('makes the message the validated builder makes, and the monitor reads it back', () => {
    const made = monitorMessageOf(launch, take);
    expect(made).toEqual(validated(take));
    expect(made).toMatchObject({ v: 1, type: 'monitor', instanceId: take.instanceId, handBacks: 3, tenant: 'team-a', startedAt: '2026-12-04T06:00:00.000Z' });
    expect(parseMonitorMessage(serialize(made))).toEqual(made);
  });

  it('leaves out what the launch message and the take do not have', () => {
    const made = monitorMessageOf(parsedLaunch(), { instanceId: 'local-1', startedAt: t0, deadline: t0 });
    expect(Object.keys(made)).not.toEqual(expect.arrayContaining(['session', 'hardDeadline', 'handBacks', 'tenant']));
    expect(parseMonitorMessage(serialize(made))).toEqual(made);
  });

  it.each<[string, Partial<Take>]>([
    ['an instance id with a space', { instanceId: 'i 1' }],
    ['an instance id of 65 characters', { instanceId: 'i'.repeat(65) }],
    ['an empty instance id', { instanceId: '' }],
    ['a session with a dot', { session: 'a.b' }],
    ['an invalid date', { startedAt: new Date(NaN) }],
    ['a time past year 9999', { deadline: new Date('+010000-01-01T00:00:00Z') }],
  ])('refuses %s as the validated builder does', (_name, change) => {
    const changed = { ...take, ...change };
    const fast = outcome(() => monitorMessageOf(launch, changed));
    expect(fast).toMatchObject({ refused: 'MessageParseError' });
    expect(fast).toEqual(outcome(() => validated(changed)));
  });
});

describe('outputSuccessOf', () => {
  const launch = parsedLaunch();
  const top5: Prediction[] = [
    { label: 'tench', classIndex: 0, confidence: 0.84 },
    { label: 'goldfish', classIndex: 1, confidence: 0.1 },
  ];
  const timings: Timings = { queueMs: 1.5, downloadMs: 2, decodeMs: 0, inferenceMs: 7.25, totalMs: 12 };
  const result: Classified = { producedBy: 'local-1', completedAt: t0, top5, timings, backend: 'onnxruntime-cpu', model: 'efficientnet-b0' };
  const validated = (r: Classified) =>
    outputSuccess({
      batchId: launch.batchId,
      imageId: launch.imageId,
      fileName: launch.fileName,
      attempt: launch.attempt,
      producedBy: r.producedBy,
      completedAt: Number.isFinite(r.completedAt.getTime()) ? r.completedAt.toISOString() : 'Invalid Date',
      label: r.top5[0]?.label,
      confidence: r.top5[0]?.confidence,
      top5: r.top5,
      timings: r.timings,
      ...(r.backend !== undefined ? { backend: r.backend } : {}),
      ...(r.model !== undefined ? { model: r.model } : {}),
    } as Parameters<typeof outputSuccess>[0]);

  it('makes the result the validated builder makes, and the web tier reads it back', () => {
    const made = outputSuccessOf(launch, result);
    expect(JSON.parse(serialize(made))).toEqual(JSON.parse(serialize(validated(result))));
    expect(made).toMatchObject({ v: 1, type: 'output', status: 'ok', label: 'tench', confidence: 0.84, imageId: launch.imageId, producedBy: 'local-1' });
    expect(JSON.parse(serialize(parseOutputMessage(serialize(made))))).toEqual(JSON.parse(serialize(made)));
  });

  const prediction = (change: object) => [{ ...top5[0], ...change }, top5[1]] as Prediction[];
  it.each<[string, Partial<Classified>]>([
    ['a confidence that is NaN', { top5: prediction({ confidence: NaN }) }],
    ['a confidence above 1', { top5: prediction({ confidence: 1.5 }) }],
    ['a negative confidence', { top5: prediction({ confidence: -0.1 }) }],
    ['an infinite confidence', { top5: prediction({ confidence: Infinity }) }],
    ['a label of 201 characters', { top5: prediction({ label: 'x'.repeat(201) }) }],
    ['a label that is not a string', { top5: prediction({ label: 7 }) }],
    ['a negative class index', { top5: prediction({ classIndex: -1 }) }],
    ['a fractional class index', { top5: prediction({ classIndex: 1.5 }) }],
    ['a prediction with a field of more', { top5: prediction({ extra: 1 }) }],
    ['a prediction without its class index', { top5: [{ label: 'tench', confidence: 0.5 } as Prediction] }],
    ['no prediction at all', { top5: [] }],
    ['eleven predictions', { top5: Array.from({ length: 11 }, (_, i) => ({ label: `c${i}`, classIndex: i, confidence: 0.05 })) }],
    ['a negative timing', { timings: { ...timings, decodeMs: -1 } }],
    ['a timing that is NaN', { timings: { ...timings, totalMs: NaN } }],
    ['a timing of a kind results do not have', { timings: { ...timings, sleepMs: 1 } as Timings }],
    ['a worker id of 65 characters', { producedBy: 'w'.repeat(65) }],
    ['a backend name of 65 characters', { backend: 'b'.repeat(65) }],
    ['a model name of 201 characters', { model: 'm'.repeat(201) }],
    ['an invalid completion time', { completedAt: new Date(NaN) }],
  ])('refuses %s as the validated builder does', (_name, change) => {
    const changed = { ...result, ...change };
    const fast = outcome(() => outputSuccessOf(launch, changed));
    expect(fast).toMatchObject({ refused: 'MessageParseError' });
    expect(fast).toEqual(outcome(() => validated(changed)));
  });

  it('gives the validated builder the last word where its own checks are stricter than the rules', () => {
    // 200 characters by validator.js's count (a surrogate pair is one), 201 UTF-16 units.
    const label = `${'x'.repeat(199)}😀`;
    const made = outputSuccessOf(launch, { ...result, top5: prediction({ label }) });
    expect(made.label).toBe(label);
    expect(outcome(() => validated({ ...result, top5: prediction({ label }) }))).toEqual({ made: JSON.parse(serialize(made)) });
    expect(parseOutputMessage(serialize(made))).toMatchObject({ label });
  });
});
