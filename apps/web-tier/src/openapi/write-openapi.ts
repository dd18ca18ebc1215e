/**
 * `npm run openapi`: writes apps/web-tier/openapi.json, the committed API
 * contract, from the controllers and DTOs. The app is built but never
 * listens or connects: no stack is needed.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NestFactory } from '@nestjs/core';
import { loadConfig } from '@app/config';
import { AppModule } from '../app/app.module';
import { buildOpenApi, openApiText } from '../app/openapi';

/** Placeholders: building the document reads no queue or bucket. */
const OFFLINE_ENV = {
  LAUNCH_QUEUE_URL: 'http://127.0.0.1:1/q/launch',
  MONITOR_QUEUE_URL: 'http://127.0.0.1:1/q/monitor',
  OUTPUT_QUEUE_URL: 'http://127.0.0.1:1/q/output',
  LOG_LEVEL: 'error',
};

export const OPENAPI_FILE = join(__dirname, '..', '..', 'openapi.json');

async function main(): Promise<void> {
  const app = await NestFactory.create(AppModule.register(loadConfig(OFFLINE_ENV)), { logger: false });
  try {
    writeFileSync(OPENAPI_FILE, openApiText(buildOpenApi(app)));
    process.stdout.write(`wrote ${OPENAPI_FILE}\n`);
  } finally {
    await app.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
