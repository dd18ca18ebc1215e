/**
 * A launch message read without class-validator when it has the plain shape the web
 * tier writes: the worker reads one per image, and the validators allocated about
 * 120 KB of short-lived objects for each (a sixth of everything the worker allocated).
 *
 * How it stays one verdict with the validated parser: the message is taken as it is
 * only when tests that are never looser than LaunchMessage's decorators pass (exactly
 * its keys, each of the plain form the web tier writes: lower-case v4 UUIDs, a time as
 * toISOString writes it, a file name of printable ASCII); anything else, however
 * valid, goes to the validators, which have the last word and write the reasons of a
 * refusal. `plain-launch.spec.ts` holds the two paths to the same verdicts.
 */
import { INPUT_KEY_PATTERN, TENANT_PATTERN } from './keys';
import { LaunchMessage, MAX_FILE_NAME_BYTES, SCHEMA_VERSION } from './messages';

/** A version 4 UUID as randomUUID writes it (IsUUID('4') also takes capitals). */
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** toISOString's own form, years 1000 to 9999 (IsISO8601 strict reads each; other years go to it). */
const ISO_TIME = /^[1-9]\d{3}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** A file name of printable ASCII with nothing JSON escapes: as many bytes in JSON as characters, no control character. */
const PLAIN_FILE_NAME = /^[\x20\x21\x23-\x5b\x5d-\x7e]+$/;
const LAUNCH_KEYS = new Set(['v', 'type', 'batchId', 'imageId', 'fileName', 'attempt', 'inputKey', 'enqueuedAt', 'handBacks', 'tenant']);

/** Read back as written: a real day of a real month (toISOString throws on an invalid date, so that is tested first). */
const isIsoString = (s: unknown) => typeof s === 'string' && ISO_TIME.test(s) && Number.isFinite(Date.parse(s)) && new Date(s).toISOString() === s;
const isCount = (x: unknown, min: number, max: number) => typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max;

/**
 * The launch message in `body` when it passes the cheap tests (see above), else undefined:
 * the caller then parses it with the validators, which decide.
 */
export function plainLaunchMessage(body: string): LaunchMessage | undefined {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return undefined;
  for (const key of Object.keys(m)) if (!LAUNCH_KEYS.has(key)) return undefined;
  const plain =
    m['v'] === SCHEMA_VERSION &&
    m['type'] === 'launch' &&
    typeof m['batchId'] === 'string' &&
    UUID_V4.test(m['batchId']) &&
    typeof m['imageId'] === 'string' &&
    UUID_V4.test(m['imageId']) &&
    typeof m['fileName'] === 'string' &&
    m['fileName'].length <= MAX_FILE_NAME_BYTES &&
    PLAIN_FILE_NAME.test(m['fileName']) &&
    isCount(m['attempt'], 1, 100) &&
    typeof m['inputKey'] === 'string' &&
    INPUT_KEY_PATTERN.test(m['inputKey']) &&
    isIsoString(m['enqueuedAt']) &&
    (!('handBacks' in m) || isCount(m['handBacks'], 0, 100)) &&
    (!('tenant' in m) || (typeof m['tenant'] === 'string' && TENANT_PATTERN.test(m['tenant'])));
  // As plainToInstance makes it: the class, its fields as parsed.
  return plain ? Object.assign(new LaunchMessage(), m) : undefined;
}
