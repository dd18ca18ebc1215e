import type { Parameter, SSMClient } from '@aws-sdk/client-ssm';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { ConfigError } from '@app/config';

/** The variable that names the SSM Parameter Store path(s) an app reads its configuration from. */
export const CONFIG_SSM_PATH = 'CONFIG_SSM_PATH';

const VARIABLE_NAME = /^[A-Z][A-Z0-9_]*$/;

export interface SsmConfigOptions {
  /** Builds the client (tests point it at a double); by default from AWS_REGION / AWS_ENDPOINT_URL(_SSM). */
  client?: SSMClient;
}

/** `/ics/prod/shared, /ics/prod/web-tier` -> `['/ics/prod/shared/', '/ics/prod/web-tier/']`. */
export function ssmPathsOf(raw: string): string[] {
  const paths = raw
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const bad = paths.filter((p) => !/^\/[A-Za-z0-9_.\-/]*$/.test(p));
  if (paths.length === 0 || bad.length > 0) {
    throw new ConfigError([
      `${CONFIG_SSM_PATH}: must be one or more comma-separated Parameter Store paths starting with "/" (got ${JSON.stringify(raw)})`,
    ]);
  }
  return paths.map((p) => (p.endsWith('/') ? p : `${p}/`));
}

/** Loaded only with CONFIG_SSM_PATH set: every app's start would otherwise load the SSM client for nothing. */
const ssm = () => require('@aws-sdk/client-ssm') as typeof import('@aws-sdk/client-ssm');

function defaultClient(env: NodeJS.ProcessEnv): SSMClient {
  const { SSMClient: Client } = ssm();
  const keyId = env['AWS_ACCESS_KEY_ID'];
  const secret = env['AWS_SECRET_ACCESS_KEY'];
  return new Client({
    // Credentials come from the SDK's default chain (the process environment, a profile,
    // the instance role); an environment handed in explicitly brings its own keys.
    ...(env !== process.env && keyId && secret
      ? { credentials: { accessKeyId: keyId, secretAccessKey: secret, sessionToken: env['AWS_SESSION_TOKEN'] } }
      : {}),
    region: env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'],
    endpoint: env['AWS_ENDPOINT_URL_SSM'] ?? env['AWS_ENDPOINT_URL'],
    maxAttempts: 4,
    // A host without a route to SSM fails its start in seconds, not after the OS's TCP timeout.
    requestHandler: new NodeHttpHandler({ connectionTimeout: 3000, requestTimeout: 10_000 }),
  });
}

async function readPath(client: SSMClient, path: string): Promise<Parameter[]> {
  const parameters: Parameter[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new (ssm().GetParametersByPathCommand)({ Path: path, Recursive: false, WithDecryption: true, NextToken: nextToken, MaxResults: 10 }),
    );
    parameters.push(...(page.Parameters ?? []));
    nextToken = page.NextToken;
  } while (nextToken);
  return parameters;
}

/**
 * The configuration an app keeps in SSM Parameter Store: with CONFIG_SSM_PATH set,
 * every parameter directly under each path (comma-separated; a later path wins over an
 * earlier one) becomes the variable named by the last part of its name, e.g.
 * `/ics/prod/launch-controller/MAX_WORKERS` -> `MAX_WORKERS`. SecureString values are
 * decrypted. Read once at start, so changing a value takes effect when the app restarts.
 *
 * Returns the variables read (without those the environment already sets: a variable
 * set on the process wins, so an operator can override one for a single run). Without
 * CONFIG_SSM_PATH it returns {} and calls nothing. A path with no parameters, a name that
 * is not a variable name, or an SSM error is a ConfigError: the app must not start on
 * defaults when its configuration cannot be read.
 */
export async function loadSsmConfig(env: NodeJS.ProcessEnv, options: SsmConfigOptions = {}): Promise<Record<string, string>> {
  const raw = env[CONFIG_SSM_PATH];
  if (raw === undefined || raw.trim() === '') return {};
  const paths = ssmPathsOf(raw);
  const client = options.client ?? defaultClient(env);
  const found: Record<string, string> = {};
  const problems: string[] = [];
  try {
    for (const path of paths) {
      let parameters: Parameter[];
      try {
        parameters = await readPath(client, path);
      } catch (err) {
        const e = err as Error;
        problems.push(`${CONFIG_SSM_PATH}: cannot read ${path} from SSM Parameter Store (${e.name}: ${e.message})`);
        continue;
      }
      if (parameters.length === 0) {
        problems.push(`${CONFIG_SSM_PATH}: no parameters under ${path} (wrong path or region?)`);
        continue;
      }
      for (const p of parameters) {
        const name = (p.Name ?? '').slice(path.length);
        if (!VARIABLE_NAME.test(name)) {
          problems.push(`${CONFIG_SSM_PATH}: parameter ${p.Name} is not named after a variable (${VARIABLE_NAME.source})`);
          continue;
        }
        found[name] = p.Value ?? '';
      }
    }
  } finally {
    if (!options.client) client.destroy();
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.fromEntries(Object.entries(found).filter(([k]) => env[k] === undefined));
}
