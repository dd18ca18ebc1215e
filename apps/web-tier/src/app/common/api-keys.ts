import { Injectable, Logger } from '@nestjs/common';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { AppConfig, ConfigError } from '@app/config';

/** Shorter keys can be guessed or brute-forced: 32 bytes (256 bits) at least. */
export const MIN_API_KEY_BYTES = 32;

/** Secrets Manager secrets are readable through SSM Parameter Store under this prefix. */
export const SECRETS_MANAGER_REFERENCE = '/aws/reference/secretsmanager/';

/**
 * The API keys the web tier accepts: API_KEYS, plus those in the Secrets
 * Manager secret API_KEYS_SECRET_ID (read once at start through SSM, so one
 * client and one permission, `ssm:GetParameter` + the secret's
 * `secretsmanager:GetSecretValue`). Loaded before the app listens
 * (configureWebApp); a bad or missing set stops the start with a ConfigError.
 */
@Injectable()
export class ApiKeys {
  private readonly logger = new Logger(ApiKeys.name);
  private loaded?: Buffer[];

  constructor(private readonly config: AppConfig) {}

  /** The keys; empty = no key needed. Throws before load(). */
  get keys(): Buffer[] {
    if (!this.loaded) throw new Error('ApiKeys.load() was not called before serving requests');
    return this.loaded;
  }

  get enabled(): boolean {
    return this.keys.length > 0;
  }

  async load(client?: SSMClient): Promise<void> {
    const web = this.config.web;
    const keys = [...web.apiKeys];
    if (web.apiKeysSecretId) keys.push(...(await this.readSecret(web.apiKeysSecretId, client)));
    const problems: string[] = [];
    if (keys.length === 0 && web.production) {
      problems.push('API_KEYS: API keys are mandatory when NODE_ENV=production: set API_KEYS or API_KEYS_SECRET_ID (a Secrets Manager secret)');
    }
    keys.forEach((k, i) => {
      const bytes = Buffer.byteLength(k);
      // Never print a key, not even a short one: only its position and length.
      if (bytes < MIN_API_KEY_BYTES) problems.push(`API_KEYS: key ${i + 1} of ${keys.length} has ${bytes} bytes; every key needs at least ${MIN_API_KEY_BYTES}`);
    });
    if (problems.length > 0) throw new ConfigError(problems);
    this.loaded = [...new Set(keys)].map((k) => Buffer.from(k));
    this.logger.log(this.loaded.length > 0 ? `${this.loaded.length} API key(s) loaded; the API needs x-api-key` : 'no API keys: the API is open');
  }

  private async readSecret(secretId: string, given?: SSMClient): Promise<string[]> {
    const client =
      given ??
      new SSMClient({
        region: this.config.aws.region,
        endpoint: this.config.web.ssmEndpoint,
        maxAttempts: 4,
        // A host without a route to SSM fails its start in seconds, not after the OS's TCP timeout.
        requestHandler: new NodeHttpHandler({ connectionTimeout: 3_000, requestTimeout: 10_000 }),
      });
    const name = `${SECRETS_MANAGER_REFERENCE}${secretId}`;
    try {
      const out = await client.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
      const keys = parseKeyList(out.Parameter?.Value ?? '');
      if (keys.length === 0) throw new ConfigError([`API_KEYS_SECRET_ID: the secret ${secretId} holds no keys`]);
      return keys;
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      const e = err as Error;
      throw new ConfigError([`API_KEYS_SECRET_ID: cannot read the secret ${secretId} through SSM ${name} (${e.name}: ${e.message})`]);
    } finally {
      if (!given) client.destroy();
    }
  }
}

/** A secret's value: a JSON array of strings, or comma-separated like API_KEYS. */
export function parseKeyList(value: string): string[] {
  const text = value.trim();
  if (text.startsWith('[')) {
    try {
      const parsed = JSON.parse(text) as unknown;
      if (Array.isArray(parsed) && parsed.every((k) => typeof k === 'string')) return parsed.map((k) => k.trim()).filter(Boolean);
    } catch {
      // Not JSON after all: read it as a list.
    }
    throw new ConfigError(['API_KEYS_SECRET_ID: the secret starts with "[" but is not a JSON array of strings']);
  }
  return text.split(',').map((k) => k.trim()).filter(Boolean);
}
