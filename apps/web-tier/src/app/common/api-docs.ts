import { ErrorDto } from './error.dto';

/** Error responses many routes share, for OpenAPI (every route declares the errors it can answer). */
export const UNAUTHORIZED = { status: 401, type: ErrorDto, description: 'API key missing or wrong (when keys are configured)' } as const;
export const NOT_FOUND = { status: 404, type: ErrorDto, description: "No such batch (or another tenant's)" } as const;
export const NOT_UUID = { status: 400, type: ErrorDto, description: 'Not a UUID' } as const;
export const RATE_LIMITED = { status: 429, type: ErrorDto, description: 'Rate limit' } as const;
export const IDEMPOTENCY_KEY_REUSED = { status: 422, type: ErrorDto, description: 'The Idempotency-Key was used for a different request' } as const;
export const UNAVAILABLE = { status: 503, type: ErrorDto, description: 'Storage or queue unavailable (Retry-After)' } as const;
export const BATCH_ID = { name: 'batchId', format: 'uuid' } as const;
