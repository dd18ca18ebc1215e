import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { API_KEY_HEADER } from './common/api-key.guard';

/** Where the document is served, always (also when Swagger UI is off): the contract clients are generated from. */
export const OPENAPI_PATH = '/openapi.json';

/**
 * The web tier's OpenAPI document, made from its controllers and DTOs. The
 * committed apps/web-tier/openapi.json is this document (`npm run openapi`
 * writes it; a test fails when they differ).
 */
export function buildOpenApi(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Image classification: web tier')
    .setDescription(
      'Upload images to classify, read their results, follow a batch live, run batches as jobs. Results come from ' +
        'classifier workers through the output queue. Every route but the page, /health and /metrics needs the ' +
        '`x-api-key` header when keys are configured; a key names its tenant, and another tenant\'s batch or image is ' +
        'a 404. Errors are JSON `{ statusCode, error, message }`.',
    )
    .setVersion('1')
    .addApiKey({ type: 'apiKey', in: 'header', name: API_KEY_HEADER }, 'api-key')
    .build();
  return SwaggerModule.createDocument(app, config, {
    // Operation ids are the ones set on each route (createBatch, uploadImages, …), not Controller_method.
    operationIdFactory: (_controller, method) => method,
  });
}

/** The document as committed: stable key order from the decorators, two-space indent, final newline. */
export function openApiText(doc: OpenAPIObject): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}
