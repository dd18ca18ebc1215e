import 'reflect-metadata';
import { plainToInstance, type ClassConstructor } from 'class-transformer';
import { validateSync } from 'class-validator';
import { CHECKSUM_MODES, Environment, LOG_LEVELS } from './environment';
import { ScalingEnvironment, scalingSettings, type ScalingSettings } from './scaling.env';
import { WebEnvironment, webSettings, type WebSettings } from './web.env';
import { WorkerEnvironment, workerSettings, type WorkerSettings } from './worker.env';

/** Raised at start-up when the environment is invalid; names every variable at fault. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

type ChecksumMode = (typeof CHECKSUM_MODES)[number];

export interface AwsSettings {
  region: string;
  /** Per-service endpoints, already resolved from AWS_ENDPOINT_URL_<SERVICE> then AWS_ENDPOINT_URL. */
  endpoints: { s3?: string; sqs?: string; ec2?: string; sns?: string };
  s3ForcePathStyle: boolean;
  requestChecksumCalculation: ChecksumMode;
  responseChecksumValidation: ChecksumMode;
  sqsVisibleCountIncludesInFlight: boolean;
}

/**
 * One typed, validated configuration for every app. Injected as a Nest provider
 * (the class is its own token); built once per process by `loadConfig`.
 */
export class AppConfig {
  readonly aws!: AwsSettings;
  readonly buckets!: { input: string; output: string };
  readonly queues!: { launch: string; monitor: string; output: string; launchDeadLetter?: string; monitorDeadLetter?: string; webhook?: string };
  /** SNS topics: `output`, the results (when set, they go there instead of the output queue). */
  readonly topics!: { output?: string };
  /** Seconds a queue consumer may fail (or stall) before /health says unhealthy. */
  readonly consumerUnhealthySeconds!: number;
  /** Seconds a queue handler may hold its message unsettled before it is abandoned (QueueConsumer handlerTimeoutSeconds). */
  readonly consumerHandlerTimeoutSeconds!: number;
  readonly fleet!: { maxWorkers: number; idleSeconds: number; maxAttempts: number };
  readonly http!: { port: number };
  readonly logLevel!: (typeof LOG_LEVELS)[number];
  /** classifier-worker and the model (worker.env.ts). */
  readonly worker!: WorkerSettings;
  /** web-tier (web.env.ts). */
  readonly web!: WebSettings;
  /** launch/monitor controllers and the fleet (scaling.env.ts). */
  readonly scaling!: ScalingSettings;
}

/** Reads and validates the environment; throws ConfigError listing each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  // Empty strings count as unset, as they do in most shells' `VAR= cmd`.
  const raw = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v !== ''),
  );
  const problems: string[] = [];
  // Each section is its own class so that each capability owns its variables.
  const parse = <T extends object>(cls: ClassConstructor<T>): T => {
    const instance = plainToInstance(cls, raw);
    for (const err of validateSync(instance, { forbidUnknownValues: true, stopAtFirstError: true })) {
      const messages = Object.values(err.constraints ?? {});
      const got = err.value === undefined ? 'it is not set' : `got ${JSON.stringify(raw[err.property])}`;
      problems.push(`${err.property}: ${messages.join(', ')} (${got})`);
    }
    return instance;
  };
  const e = parse(Environment);
  const worker = parse(WorkerEnvironment);
  const web = parse(WebEnvironment);
  const scaling = parse(ScalingEnvironment);
  if (problems.length > 0) throw new ConfigError(problems);
  const s3 = e.AWS_ENDPOINT_URL_S3 ?? e.AWS_ENDPOINT_URL;
  const config: AppConfig = {
    aws: {
      region: e.AWS_REGION,
      endpoints: {
        s3,
        sqs: e.AWS_ENDPOINT_URL_SQS ?? e.AWS_ENDPOINT_URL,
        ec2: e.AWS_ENDPOINT_URL_EC2 ?? e.AWS_ENDPOINT_URL,
        sns: e.AWS_ENDPOINT_URL_SNS ?? e.AWS_ENDPOINT_URL,
      },
      s3ForcePathStyle: e.S3_FORCE_PATH_STYLE ?? s3 !== undefined,
      requestChecksumCalculation: e.AWS_REQUEST_CHECKSUM_CALCULATION,
      responseChecksumValidation: e.AWS_RESPONSE_CHECKSUM_VALIDATION,
      sqsVisibleCountIncludesInFlight: e.SQS_VISIBLE_COUNT_INCLUDES_IN_FLIGHT,
    },
    buckets: { input: e.INPUT_BUCKET, output: e.OUTPUT_BUCKET },
    queues: {
      launch: e.LAUNCH_QUEUE_URL,
      monitor: e.MONITOR_QUEUE_URL,
      output: e.OUTPUT_QUEUE_URL,
      launchDeadLetter: e.LAUNCH_DEAD_LETTER_QUEUE_URL,
      monitorDeadLetter: e.MONITOR_DEAD_LETTER_QUEUE_URL,
      webhook: e.WEBHOOK_QUEUE_URL,
    },
    topics: { output: e.OUTPUT_TOPIC_ARN },
    consumerUnhealthySeconds: e.CONSUMER_UNHEALTHY_SECONDS,
    consumerHandlerTimeoutSeconds: e.QUEUE_HANDLER_TIMEOUT_SECONDS,
    fleet: { maxWorkers: e.MAX_WORKERS, idleSeconds: e.IDLE_SECONDS, maxAttempts: e.MAX_ATTEMPTS },
    http: { port: e.PORT },
    logLevel: e.LOG_LEVEL,
    worker: workerSettings(worker),
    // SSM (API keys from Secrets Manager) falls back to the one endpoint, like every other service.
    web: { ...webSettings(web), ssmEndpoint: web.AWS_ENDPOINT_URL_SSM ?? e.AWS_ENDPOINT_URL },
    scaling: scalingSettings(scaling),
  };
  return Object.assign(Object.create(AppConfig.prototype) as AppConfig, config);
}
