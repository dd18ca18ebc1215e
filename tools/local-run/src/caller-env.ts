import { localAwsEnv } from '@tools/local-aws';

/**
 * What the local system sets for its apps itself: the embedded S3/SQS (address, credentials,
 * checksum and path-style settings, buckets, queues), the local fleet, the loopback host and
 * the launch controller's address. A caller's value for one of these cannot take effect.
 */
export const SET_BY_NPM_START: readonly string[] = [
  ...Object.keys(localAwsEnv('http://127.0.0.1:4566').env),
  'FLEET_PROVIDER',
  'FLEET_STATE_DIR',
  'WORKER_MAIN',
  'HOST',
  'LAUNCH_CONTROLLER_URL',
  'OUTPUT_TOPIC_ARN',
];

/** Read by npm start itself (web port, run folder, edge port, fleet kind, copies of the apps), not passed to the apps as such. */
const NPM_START_SETTINGS = new Set(['PORT', 'LOCAL_RUN_DIR', 'LOCAL_RUN_SKIP_BUILD', 'LOCAL_AWS_PORT', 'LOCAL_FLEET', 'EC2_BOOT_SECONDS', 'WEB_TIERS', 'CONTROL_PLANES']);

/** Often exported in a developer's shell for real AWS; harmless here, so only a warning. */
const SHELL_AWS = /^AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN|REGION|DEFAULT_REGION|PROFILE|CONFIG_FILE|SHARED_CREDENTIALS_FILE|CA_BUNDLE|SDK_.*)$/;
/** Names of the families the local system owns: a value the apps would read but npm start replaces. */
const OWNED_FAMILY = /^(AWS_|S3_|SQS_|FLEET_)|(_BUCKET|_QUEUE_URL)$/;

export interface CallerEnvironment {
  /** Passed to every app (MAX_WORKERS, IDLE_SECONDS, MODEL_DIR, LOG_LEVEL, ...). */
  passThrough: Record<string, string>;
  /** Set by the caller but replaced by npm start's own value: refused, as the run would not do what was asked. */
  refused: string[];
  /** Set by the caller, not used, and harmless (shell credentials, profile): a warning. */
  ignored: string[];
}

/** Sorts the caller's environment into what npm start passes on, refuses and ignores. */
export function sortCallerEnvironment(env: NodeJS.ProcessEnv): CallerEnvironment {
  const out: CallerEnvironment = { passThrough: {}, refused: [], ignored: [] };
  const setHere = new Set(SET_BY_NPM_START);
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || name.startsWith('npm_') || NPM_START_SETTINGS.has(name)) continue;
    if (SHELL_AWS.test(name)) out.ignored.push(name);
    else if (setHere.has(name) || /^AWS_ENDPOINT_URL/.test(name)) out.refused.push(name);
    else if (OWNED_FAMILY.test(name)) out.ignored.push(name);
    else out.passThrough[name] = value;
  }
  out.refused.sort();
  out.ignored.sort();
  return out;
}

/** The one line npm start prints before exiting 2, or undefined when nothing is refused. */
export function refusalMessage(c: CallerEnvironment): string | undefined {
  if (c.refused.length === 0) return undefined;
  return `${c.refused.join(', ')} ${c.refused.length === 1 ? 'is' : 'are'} set by npm start itself (embedded S3/SQS, local fleet): unset ${c.refused.length === 1 ? 'it' : 'them'}, or run the apps against your own AWS (docs/operations.md)`;
}

/** The warning for variables npm start does not use, or undefined. */
export function ignoredMessage(c: CallerEnvironment): string | undefined {
  if (c.ignored.length === 0) return undefined;
  return `ignoring ${c.ignored.join(', ')}: the local system uses its embedded S3/SQS with its own credentials`;
}
