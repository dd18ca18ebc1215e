/**
 * The two messages a worker sends for every image it takes, made from its parsed
 * launch message without running the validators over it again.
 *
 * Why: class-validator allocates about 120 KB of short-lived objects per message it
 * checks, and a worker checked three messages per image (the launch message it reads,
 * see plain-launch.ts, and these two): half of everything it allocated, and so of the
 * garbage collection that ran beside the model.
 *
 * How it stays one answer with the validated builders: the fields copied from the
 * launch message were validated when it was parsed (MonitorMessage and OutputBase
 * hold them to the same rules), and times come from a Date. What the worker adds
 * of its own is checked here with cheap tests that are never looser than the
 * messages' decorators; whatever fails them goes through the validated builder,
 * which throws the decorators' own MessageParseError (or, where a test here is
 * stricter than needed, builds the message). `take-messages.spec.ts` holds the two
 * paths to the same verdicts.
 */
import { monitorMessage, outputSuccess } from './codec';
import { SCHEMA_VERSION, SESSION_PATTERN, WORKER_ID_PATTERN, type LaunchMessage, type MonitorMessage, type OutputSuccess, type Prediction, type Timings } from './messages';

/** A time toISOString writes as IsISO8601({ strict: true }) reads it: years 0 to 9999. */
const isIsoTime = (d: Date | undefined) => d === undefined || (Number.isFinite(d.getTime()) && d.getUTCFullYear() >= 0 && d.getUTCFullYear() <= 9999);

/** A Date as ISO 8601; an invalid one as "Invalid Date", for the validators to refuse (toISOString would throw). */
const iso = (d: Date) => (Number.isFinite(d.getTime()) ? d.toISOString() : String(d));

/** The launch message's fields both messages carry. */
function imageRef(launch: LaunchMessage) {
  return { batchId: launch.batchId, imageId: launch.imageId, fileName: launch.fileName, attempt: launch.attempt };
}

export interface Take {
  /** Who took the image (MonitorMessage.instanceId). */
  instanceId: string;
  /** The worker process (MonitorMessage.session). */
  session?: string;
  startedAt: Date;
  deadline: Date;
  hardDeadline?: Date;
}

/** The monitor message of a take: `launch` as parsed by parseLaunchMessage. */
export function monitorMessageOf(launch: LaunchMessage, take: Take): MonitorMessage {
  const fields = {
    ...imageRef(launch),
    inputKey: launch.inputKey,
    instanceId: take.instanceId,
    ...(take.session !== undefined ? { session: take.session } : {}),
    startedAt: iso(take.startedAt),
    deadline: iso(take.deadline),
    ...(take.hardDeadline ? { hardDeadline: iso(take.hardDeadline) } : {}),
    ...(launch.handBacks !== undefined ? { handBacks: launch.handBacks } : {}),
    ...(launch.tenant !== undefined ? { tenant: launch.tenant } : {}),
  };
  const ownFieldsValid =
    WORKER_ID_PATTERN.test(take.instanceId) &&
    (take.session === undefined || SESSION_PATTERN.test(take.session)) &&
    [take.startedAt, take.deadline, take.hardDeadline].every(isIsoTime);
  if (!ownFieldsValid) return monitorMessage(fields);
  return { v: SCHEMA_VERSION, type: 'monitor', ...fields } as MonitorMessage;
}

export interface Classified {
  /** The worker's id (OutputBase.producedBy). */
  producedBy: string;
  completedAt: Date;
  /** Most likely first; the first is the answer. */
  top5: Prediction[];
  timings: Timings;
  backend?: string;
  model?: string;
}

const isLabel = (s: unknown) => typeof s === 'string' && s.length <= 200;
const isConfidence = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0 && x <= 1;
const isDuration = (x: unknown) => x === undefined || (typeof x === 'number' && Number.isFinite(x) && x >= 0);
const TIMING_KEYS = new Set(['queueMs', 'downloadMs', 'decodeMs', 'inferenceMs', 'totalMs']);

function isPrediction(p: Prediction): boolean {
  return (
    typeof p === 'object' &&
    p !== null &&
    Object.keys(p).length === 3 &&
    Object.hasOwn(p, 'label') &&
    Object.hasOwn(p, 'classIndex') &&
    Object.hasOwn(p, 'confidence') &&
    isLabel(p.label) &&
    Number.isInteger(p.classIndex) &&
    p.classIndex >= 0 &&
    isConfidence(p.confidence)
  );
}

/** The result of a classified image: `launch` as parsed by parseLaunchMessage. */
export function outputSuccessOf(launch: LaunchMessage, result: Classified): OutputSuccess {
  const [best] = result.top5;
  const fields = {
    ...imageRef(launch),
    producedBy: result.producedBy,
    completedAt: iso(result.completedAt),
    label: best?.label,
    confidence: best?.confidence,
    top5: result.top5,
    timings: result.timings,
    ...(result.backend !== undefined ? { backend: result.backend } : {}),
    ...(result.model !== undefined ? { model: result.model } : {}),
  };
  const ownFieldsValid =
    typeof result.producedBy === 'string' &&
    result.producedBy.length <= 64 &&
    isIsoTime(result.completedAt) &&
    Array.isArray(result.top5) &&
    result.top5.length >= 1 &&
    result.top5.length <= 10 &&
    result.top5.every(isPrediction) &&
    typeof result.timings === 'object' &&
    result.timings !== null &&
    Object.entries(result.timings).every(([k, v]) => TIMING_KEYS.has(k) && isDuration(v)) &&
    (result.backend === undefined || (typeof result.backend === 'string' && result.backend.length <= 64)) &&
    (result.model === undefined || isLabel(result.model));
  if (!ownFieldsValid) return outputSuccess(fields as Parameters<typeof outputSuccess>[0]);
  return { v: SCHEMA_VERSION, type: 'output', status: 'ok', ...fields } as OutputSuccess;
}
