import { Transform } from 'class-transformer';
import { IsArray, IsIn, IsInt, IsOptional, IsString, IsUrl, Matches, Max, Min } from 'class-validator';
import { toInt, toList, URL_OPTIONS } from './env-helpers';

/** web-tier variables. */
export class WebEnvironment {
  /** Most files in one upload. */
  @Transform(toInt) @Max(10000) @Min(1) @IsInt() MAX_FILES = 100;
  /**
   * Images a tenant may have accepted and not yet answered, counted by each web tier for the uploads it took;
   * an upload that would pass it gets 429 + Retry-After, and nothing of it is stored or queued.
   */
  @Transform(toInt) @Max(10_000_000) @Min(1) @IsInt() TENANT_MAX_IMAGES_IN_FLIGHT = 5000;
  /** Largest file accepted, bytes. */
  @Transform(toInt) @Max(1024 * 1024 * 1024) @Min(1) @IsInt() MAX_FILE_BYTES = 10 * 1024 * 1024;
  /** How long the classic `POST /` holds a request for its result, seconds. */
  @Transform(toInt) @Max(3600) @Min(1) @IsInt() CLASSIC_TIMEOUT_SECONDS = 300;
  /** Accepted `x-api-key` values, comma-separated; empty = no key needed. */
  @Transform(toList) @IsArray() @IsString({ each: true }) API_KEYS: string[] = [];
  /** Allowed CORS origins, comma-separated; empty = CORS off. `*` = any. */
  @Transform(toList) @IsArray() @IsString({ each: true }) CORS_ORIGINS: string[] = [];
  /** Requests per minute per client before 429. */
  @Transform(toInt) @Max(1_000_000) @Min(1) @IsInt() RATE_LIMIT_PER_MINUTE = 6000;
  /**
   * Base URL of the launch controller (it serves `GET /api/fleet`), for the
   * workers shown on the status panel. Unset: workers are reported as unknown.
   */
  @IsOptional() @IsUrl(URL_OPTIONS) LAUNCH_CONTROLLER_URL?: string;
  /** Results kept in memory (oldest batches dropped first); older ones are read back from the output bucket. */
  @Transform(toInt) @Max(10_000_000) @Min(100) @IsInt() RESULT_CACHE_IMAGES = 100_000;
  /** Lifetime of the presigned `url` of a stored image, seconds (S3 allows up to 7 days). */
  @Transform(toInt) @Max(604_800) @Min(60) @IsInt() IMAGE_URL_TTL_SECONDS = 3600;
  /** S3 uploads one request runs at once. */
  @Transform(toInt) @Max(256) @Min(1) @IsInt() UPLOAD_CONCURRENCY = 16;
  /**
   * Long-poll wait of the output queue, seconds (0..20). At shutdown a poll of
   * at most 2 s is waited for rather than aborted: an aborted poll may take a
   * message with it, which then reappears only after its visibility timeout.
   */
  @Transform(toInt) @Max(20) @Min(0) @IsInt() OUTPUT_POLL_SECONDS = 20;
  /**
   * With OUTPUT_TOPIC_ARN: each web tier creates its own results queue named this prefix and a random
   * id at start, and deletes it at stop (the stack allows web tiers queues of this prefix only).
   */
  @Matches(/^[A-Za-z0-9_-]{1,60}$/, { message: 'WEB_TIER_QUEUE_PREFIX must be 1..60 of A-Z a-z 0-9 _ -' }) WEB_TIER_QUEUE_PREFIX = 'ics-web-tier-';
  /** Folder of the built upload page (index.html, page.js, styles.css); default: `page` next to main.js. */
  @IsOptional() @IsString() WEB_PAGE_DIR?: string;
  /** Upload bytes held in memory across all requests; a request that would pass it gets 503 + Retry-After. At least MAX_FILE_BYTES. */
  @Transform(toInt) @Max(16 * 1024 * 1024 * 1024) @Min(1024) @IsInt() UPLOAD_MAX_BYTES_IN_FLIGHT = 256 * 1024 * 1024;
  /** A comment line on an idle event stream this often, seconds. */
  @Transform(toInt) @Max(3600) @Min(1) @IsInt() SSE_HEARTBEAT_SECONDS = 15;
  /** An event stream ends after this long, seconds; the client reconnects with Last-Event-ID and gets what it missed. */
  @Transform(toInt) @Max(86_400) @Min(1) @IsInt() SSE_MAX_LIFETIME_SECONDS = 300;
  /** Images queued this long are looked up in the output bucket (a result written but never announced), seconds; 0 = never. */
  @Transform(toInt) @Max(3600) @Min(0) @IsInt() RESULT_RECHECK_SECONDS = 15;
  /** `/health` answers from a check at most this old, refreshed in the background, seconds. */
  @Transform(toInt) @Max(3600) @Min(1) @IsInt() HEALTH_CACHE_SECONDS = 10;
  /** Swagger UI at /docs: `on` or `off`; default on without API keys, off with them. */
  @IsOptional() @IsIn(['on', 'off']) SWAGGER?: 'on' | 'off';
  /** Secrets Manager secret holding the API keys (comma-separated or a JSON array), read at start through SSM. */
  @IsOptional() @Matches(/^[A-Za-z0-9/_+=.@!-]{1,2048}$/, { message: 'API_KEYS_SECRET_ID must be a secret name or ARN' }) API_KEYS_SECRET_ID?: string;
  /** SSM endpoint (for API_KEYS_SECRET_ID); default AWS_ENDPOINT_URL. */
  @IsOptional() @IsUrl(URL_OPTIONS) AWS_ENDPOINT_URL_SSM?: string;
  /** `production` makes API keys mandatory. */
  @IsOptional() @IsString() NODE_ENV?: string;
  /** An upload body that brings fewer bytes than this per second over UPLOAD_RATE_WINDOW_SECONDS is cut with 408, and what it stored removed; 0 = never. */
  @Transform(toInt) @Max(1024 * 1024 * 1024) @Min(0) @IsInt() UPLOAD_MIN_BYTES_PER_SECOND = 1024;
  /** The window an upload's rate is judged over, seconds; time in which the tier itself holds the body back does not count. */
  @Transform(toInt) @Max(600) @Min(1) @IsInt() UPLOAD_RATE_WINDOW_SECONDS = 10;
  /** Uploads whose body is still arriving, per client address, on one web tier; more get 429 + Retry-After. */
  @Transform(toInt) @Max(1_000_000) @Min(1) @IsInt() UPLOADS_PER_IP_MAX = 128;
  /** Uploads whose body is still arriving, per tenant, on one web tier; more get 429 + Retry-After. */
  @Transform(toInt) @Max(1_000_000) @Min(1) @IsInt() UPLOADS_PER_TENANT_MAX = 512;
  /** Open event streams and classic requests (held until their result), per client address, on one web tier; more get 429 + Retry-After. */
  @Transform(toInt) @Max(1_000_000) @Min(1) @IsInt() WAITING_CONNECTIONS_PER_IP_MAX = 256;
  /** Open event streams and classic requests, per tenant, on one web tier; more get 429 + Retry-After. */
  @Transform(toInt) @Max(1_000_000) @Min(1) @IsInt() WAITING_CONNECTIONS_PER_TENANT_MAX = 1024;
  /** Open event streams and classic requests in all, on one web tier; more get 429 + Retry-After. */
  @Transform(toInt) @Max(1_000_000) @Min(1) @IsInt() WAITING_CONNECTIONS_MAX = 4096;
  /** An event stream whose client reads nothing for this long (its send buffer stays full) is dropped, seconds. */
  @Transform(toInt) @Max(3600) @Min(1) @IsInt() SSE_DRAIN_TIMEOUT_SECONDS = 30;
  /**
   * The load balancer's idle timeout, seconds (the CDK stack sets 330). The tier keeps an idle connection open 5 s
   * longer (keepAliveTimeout) and waits 10 s longer for a request's headers, so that the balancer, never the tier,
   * closes a connection it may be about to reuse (which would answer 502).
   */
  @Transform(toInt) @Max(4000) @Min(1) @IsInt() LOAD_BALANCER_IDLE_SECONDS = 330;
  /**
   * Webhook signing secrets, comma-separated `tenant=secret` entries (at least 32 bytes each; never logged):
   * a batch's webhook is signed with its tenant's. A tenant without one cannot give a callbackUrl.
   */
  @Transform(toList) @IsArray() @IsString({ each: true }) WEBHOOK_SECRETS: string[] = [];
  /** Base URL clients reach this API at (behind the load balancer), for the links in webhook deliveries; default http://localhost:PORT. */
  @IsOptional() @IsUrl(URL_OPTIONS) PUBLIC_URL?: string;
}

export interface WebSettings {
  maxFiles: number;
  tenantMaxImagesInFlight: number;
  maxFileBytes: number;
  classicTimeoutSeconds: number;
  apiKeys: string[];
  corsOrigins: string[];
  rateLimitPerMinute: number;
  launchControllerUrl?: string;
  resultCacheImages: number;
  imageUrlTtlSeconds: number;
  uploadConcurrency: number;
  outputPollSeconds: number;
  tierQueuePrefix: string;
  pageDir?: string;
  uploadMaxBytesInFlight: number;
  sseHeartbeatSeconds: number;
  sseMaxLifetimeSeconds: number;
  resultRecheckSeconds: number;
  healthCacheSeconds: number;
  swagger?: boolean;
  apiKeysSecretId?: string;
  ssmEndpoint?: string;
  production: boolean;
  uploadMinBytesPerSecond: number;
  uploadRateWindowSeconds: number;
  uploadsPerIpMax: number;
  uploadsPerTenantMax: number;
  waitingConnectionsPerIpMax: number;
  waitingConnectionsPerTenantMax: number;
  waitingConnectionsMax: number;
  sseDrainTimeoutSeconds: number;
  loadBalancerIdleSeconds: number;
  /** WEBHOOK_SECRETS entries as given (`tenant=secret`), parsed and checked by the web tier. */
  webhookSecrets: string[];
  publicUrl?: string;
}

export function webSettings(e: WebEnvironment): WebSettings {
  return {
    maxFiles: e.MAX_FILES,
    tenantMaxImagesInFlight: e.TENANT_MAX_IMAGES_IN_FLIGHT,
    maxFileBytes: e.MAX_FILE_BYTES,
    classicTimeoutSeconds: e.CLASSIC_TIMEOUT_SECONDS,
    apiKeys: e.API_KEYS,
    corsOrigins: e.CORS_ORIGINS,
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    launchControllerUrl: e.LAUNCH_CONTROLLER_URL?.replace(/\/+$/, ''),
    resultCacheImages: e.RESULT_CACHE_IMAGES,
    imageUrlTtlSeconds: e.IMAGE_URL_TTL_SECONDS,
    uploadConcurrency: e.UPLOAD_CONCURRENCY,
    outputPollSeconds: e.OUTPUT_POLL_SECONDS,
    tierQueuePrefix: e.WEB_TIER_QUEUE_PREFIX,
    pageDir: e.WEB_PAGE_DIR,
    uploadMaxBytesInFlight: e.UPLOAD_MAX_BYTES_IN_FLIGHT,
    sseHeartbeatSeconds: e.SSE_HEARTBEAT_SECONDS,
    sseMaxLifetimeSeconds: e.SSE_MAX_LIFETIME_SECONDS,
    resultRecheckSeconds: e.RESULT_RECHECK_SECONDS,
    healthCacheSeconds: e.HEALTH_CACHE_SECONDS,
    swagger: e.SWAGGER === undefined ? undefined : e.SWAGGER === 'on',
    apiKeysSecretId: e.API_KEYS_SECRET_ID,
    ssmEndpoint: e.AWS_ENDPOINT_URL_SSM,
    production: e.NODE_ENV === 'production',
    uploadMinBytesPerSecond: e.UPLOAD_MIN_BYTES_PER_SECOND,
    uploadRateWindowSeconds: e.UPLOAD_RATE_WINDOW_SECONDS,
    uploadsPerIpMax: e.UPLOADS_PER_IP_MAX,
    uploadsPerTenantMax: e.UPLOADS_PER_TENANT_MAX,
    waitingConnectionsPerIpMax: e.WAITING_CONNECTIONS_PER_IP_MAX,
    waitingConnectionsPerTenantMax: e.WAITING_CONNECTIONS_PER_TENANT_MAX,
    waitingConnectionsMax: e.WAITING_CONNECTIONS_MAX,
    sseDrainTimeoutSeconds: e.SSE_DRAIN_TIMEOUT_SECONDS,
    loadBalancerIdleSeconds: e.LOAD_BALANCER_IDLE_SECONDS,
    webhookSecrets: e.WEBHOOK_SECRETS,
    publicUrl: e.PUBLIC_URL?.replace(/\/+$/, ''),
  };
}
