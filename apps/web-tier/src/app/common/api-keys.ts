import { createHash, timingSafeEqual } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { AppConfig, ConfigError } from '@app/config';
import { DEFAULT_TENANT, isTenant } from '@app/contracts';

/** Shorter keys can be guessed or brute-forced: 32 bytes (256 bits) at least. */
export const MIN_API_KEY_BYTES = 32;

/** Secrets Manager secrets are readable through SSM Parameter Store under this prefix. */
export const SECRETS_MANAGER_REFERENCE = '/aws/reference/secretsmanager/';

/** One accepted key and the tenant it names. */
export interface TenantKey {
  tenant: string;
  key: Buffer;
}

/**
 * An entry of API_KEYS or of the secret: `tenant=key`, or a bare key, which is
 * its own tenant `k-` + the first 10 hex digits of its SHA-256 (a name that
 * reveals nothing of the key). A bare key may itself hold `=` (base64
 * padding): it is read as `tenant=key` only when the part before the first
 * `=` is a tenant name and the rest is more than padding.
 */
export function parseKeyEntry(entry: string): { tenant: string; key: string } {
  const at = entry.indexOf('=');
  if (at > 0) {
    const tenant = entry.slice(0, at);
    const key = entry.slice(at + 1);
    if (isTenant(tenant) && !/^=*$/.test(key)) return { tenant, key };
  }
  return { tenant: `k-${createHash('sha256').update(entry).digest('hex').slice(0, 10)}`, key: entry };
}

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
  private loaded?: TenantKey[];

  constructor(private readonly config: AppConfig) {}

  /** The keys with their tenants; empty = no key needed (one tenant, `default`). Throws before load(). */
  get keys(): TenantKey[] {
    if (!this.loaded) throw new Error('ApiKeys.load() was not called before serving requests');
    return this.loaded;
  }

  get enabled(): boolean {
    return this.keys.length > 0;
  }

  /** The tenant of a request: the one its key names, or `default` when keys are off; undefined for a wrong key. */
  tenantOf(given: Buffer): string | undefined {
    if (!this.enabled) return DEFAULT_TENANT;
    // Every key is compared (no early exit), so the time taken says nothing about which one matched.
    let tenant: string | undefined;
    for (const k of this.keys) if (k.key.length === given.length && timingSafeEqual(k.key, given) && tenant === undefined) tenant = k.tenant;
    return tenant;
  }

  async load(client?: SSMClient): Promise<void> {
    const web = this.config.web;
    const entries = [...web.apiKeys];
    if (web.apiKeysSecretId) entries.push(...(await this.readSecret(web.apiKeysSecretId, client)));
    const parsed = entries.map(parseKeyEntry);
    const keys = parsed.map((p) => p.key);
    const problems: string[] = [];
    if (keys.length === 0 && web.production) {
      problems.push('API_KEYS: API keys are mandatory when NODE_ENV=production: set API_KEYS or API_KEYS_SECRET_ID (a Secrets Manager secret)');
    }
    keys.forEach((k, i) => {
      const bytes = Buffer.byteLength(k);
      // Never print a key, not even a short one: only its position and length.
      if (bytes < MIN_API_KEY_BYTES) problems.push(`API_KEYS: key ${i + 1} of ${keys.length} has ${bytes} bytes; every key needs at least ${MIN_API_KEY_BYTES}`);
    });
    const tenantOfKey = new Map<string, string>();
    parsed.forEach((p, i) => {
      const other = tenantOfKey.get(p.key);
      // One key, two tenants: which one a request belongs to would be a guess.
      if (other !== undefined && other !== p.tenant) problems.push(`API_KEYS: key ${i + 1} of ${keys.length} is also the key of tenant ${other}`);
      tenantOfKey.set(p.key, p.tenant);
    });
    if (problems.length > 0) throw new ConfigError(problems);
    this.loaded = [...tenantOfKey].map(([key, tenant]) => ({ tenant, key: Buffer.from(key) }));
    const tenants = new Set(this.loaded.map((k) => k.tenant)).size;
    this.logger.log(this.loaded.length > 0 ? `${this.loaded.length} API key(s) of ${tenants} tenant(s) loaded; the API needs x-api-key` : 'no API keys: the API is open (one tenant, default)');
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
