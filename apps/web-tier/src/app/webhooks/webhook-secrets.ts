import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { AppConfig, ConfigError } from '@app/config';
import { isTenant } from '@app/contracts';

/** A shorter secret could be brute-forced from one signed delivery: 32 bytes (256 bits) at least. */
export const MIN_WEBHOOK_SECRET_BYTES = 32;

/**
 * Parses WEBHOOK_SECRETS entries, `tenant=secret` (the API_KEYS style; here the
 * tenant is required, since a secret is always someone's). Problems name an
 * entry by its position only: a secret is never printed.
 */
export function parseWebhookSecrets(entries: string[]): Map<string, Buffer> {
  const secrets = new Map<string, Buffer>();
  const problems: string[] = [];
  entries.forEach((entry, i) => {
    const at = entry.indexOf('=');
    const tenant = at > 0 ? entry.slice(0, at) : '';
    const secret = at > 0 ? entry.slice(at + 1) : '';
    const which = `entry ${i + 1} of ${entries.length}`;
    if (!isTenant(tenant)) problems.push(`WEBHOOK_SECRETS: ${which} is not tenant=secret`);
    else if (Buffer.byteLength(secret) < MIN_WEBHOOK_SECRET_BYTES) problems.push(`WEBHOOK_SECRETS: ${which} (tenant ${tenant}) has ${Buffer.byteLength(secret)} bytes; every secret needs at least ${MIN_WEBHOOK_SECRET_BYTES}`);
    else if (secrets.has(tenant)) problems.push(`WEBHOOK_SECRETS: ${which} is a second secret for tenant ${tenant}`);
    else secrets.set(tenant, Buffer.from(secret));
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return secrets;
}

/**
 * Each tenant's webhook signing secret (WEBHOOK_SECRETS), checked when the app
 * starts: in onModuleInit rather than the constructor, so that a bad entry
 * stops the start like any configuration error (one line, exit 2) instead of
 * failing Nest's dependency injection.
 */
@Injectable()
export class WebhookSecrets implements OnModuleInit {
  private readonly logger = new Logger(WebhookSecrets.name);
  private secrets?: Map<string, Buffer>;

  constructor(private readonly config: AppConfig) {}

  onModuleInit(): void {
    const secrets = this.load();
    if (secrets.size > 0) this.logger.log(`webhook secrets of ${secrets.size} tenant(s) loaded`);
  }

  secretOf(tenant: string): Buffer | undefined {
    return this.load().get(tenant);
  }

  private load(): Map<string, Buffer> {
    return (this.secrets ??= parseWebhookSecrets(this.config.web.webhookSecrets));
  }
}
