import type { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import type { AppConfig } from '@app/config';
import type { Express } from 'express';
import helmet from 'helmet';
import { API_KEY_HEADER } from './common/api-key.guard';
import { ApiKeys } from './common/api-keys';
import { applyServerTimeouts } from './common/server-timeouts';
import { buildOpenApi, OPENAPI_PATH } from './openapi';
import { PAGE_DIR } from './page/page.controller';
import { UploadMemory } from './upload/upload-memory';

/**
 * Everything set on the HTTP app before it listens: the API keys (read and
 * checked: a bad set stops the start), the one proxy hop trusted, security
 * headers, CORS, the page's static assets, the OpenAPI document at
 * /openapi.json (always), and Swagger UI at /docs (off when keys are on,
 * unless SWAGGER=on: Swagger's routes bypass the guards). Used by
 * main.ts (through the platform's bootstrap) and by in-process tests alike.
 */
export async function configureWebApp(app: NestExpressApplication, config: AppConfig): Promise<void> {
  UploadMemory.check(config);
  const keys = app.get(ApiKeys);
  await keys.load();
  // Exactly one proxy hop (the load balancer): req.ip, which the rate limit and the per-client caps key on, is the
  // address that hop saw, not one a client wrote into X-Forwarded-For itself.
  app.set('trust proxy', 1);
  // Idle connections outlive the load balancer's idle timeout, so that it, not the tier, closes them.
  applyServerTimeouts(app.getHttpServer(), config.web.loadBalancerIdleSeconds);
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          // Thumbnails are object URLs of the files the user picked.
          'img-src': ["'self'", 'data:', 'blob:'],
          // Plain http on a LAN or loopback must keep working.
          'upgrade-insecure-requests': null,
        },
      },
    }),
  );
  const origins = config.web.corsOrigins;
  if (origins.length > 0) {
    app.enableCors({
      origin: origins.includes('*') ? true : origins,
      allowedHeaders: ['Content-Type', API_KEY_HEADER, 'Last-Event-ID', 'Idempotency-Key'],
      // A browser's classic request may read which image it got.
      exposedHeaders: ['Image-Id'],
      methods: ['GET', 'POST', 'DELETE'],
      maxAge: 600,
    });
  }
  app.disable('x-powered-by');
  app.useStaticAssets(app.get<string>(PAGE_DIR), { prefix: '/assets/', index: false, maxAge: '1h' });

  // The API's contract, public like the page: served always, whether or not Swagger UI is on.
  const doc = buildOpenApi(app);
  (app.getHttpAdapter().getInstance() as Express).get(OPENAPI_PATH, (_req, res) => res.json(doc));
  if (!(config.web.swagger ?? !keys.enabled)) return;
  SwaggerModule.setup('docs', app, doc, { jsonDocumentUrl: 'docs-json' });
}
