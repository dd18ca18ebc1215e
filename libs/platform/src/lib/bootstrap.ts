import type { DynamicModule, INestApplication, INestApplicationContext, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import { AppConfig, ConfigError, loadConfig } from '@app/config';
import { EXIT, parseCommandLine } from '@app/command-line';
import { appCommandLine } from './environment-help';
import { loadSsmConfig } from './ssm-config';
import { SystemdWatchdog, systemdNotify, watchdogIntervalMs, type LivenessProbe } from './systemd-watchdog';

export interface AppDefinition<A extends INestApplicationContext> {
  /** Shown in every log line and in the ready message. */
  name: string;
  /** The root module for a validated configuration. */
  module: (config: AppConfig) => DynamicModule | Type<unknown>;
  /** Serve HTTP on config.http.port (or `port`). */
  http: boolean;
  /** Anything to set up on the app before it listens (Swagger, pipes, middleware). */
  configure?: (app: A, config: AppConfig) => void | Promise<void>;
  /**
   * Whether its consumers and loops make progress: under systemd's WatchdogSec the
   * app pings the watchdog only while this says healthy (systemd-watchdog.ts).
   */
  liveness?: (app: A, config: AppConfig) => LivenessProbe;
}

/**
 * Starts one app the same way everywhere: validated configuration (a bad
 * variable stops the process with a message naming it), JSON logs, shutdown
 * hooks for SIGTERM/SIGINT, and a "ready" log line. With CONFIG_SSM_PATH set, the
 * configuration is first read from SSM Parameter Store (ssm-config.ts), on every start.
 */
export async function startApp<A extends INestApplicationContext = INestApplication>(
  def: AppDefinition<A>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<A> {
  process.env['APP_NAME'] ??= def.name;
  const fromSsm = await loadSsmConfig(env);
  // Code that reads process.env itself (the AWS SDK, secrets read at start) sees them too.
  if (env === process.env) Object.assign(process.env, fromSsm);
  const config = loadConfig({ ...env, ...fromSsm });
  const module = def.module(config);
  const app = (
    def.http
      ? await NestFactory.create(module, { bufferLogs: true })
      : await NestFactory.createApplicationContext(module, { bufferLogs: true })
  ) as unknown as A;
  const logger = app.get(Logger);
  app.useLogger(logger);
  let watchdog: SystemdWatchdog | undefined;
  // Nest's own shutdown hooks re-raise the signal after closing, so the process
  // ends "killed by SIGTERM"; a clean stop should exit 0.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      watchdog?.stop();
      logger.log(`${def.name} stopping (${signal})`, 'Bootstrap');
      app.close().then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error(`${def.name} did not stop cleanly: ${String(err)}`, 'Bootstrap');
          process.exit(1);
        },
      );
    });
  }
  await def.configure?.(app, config);
  if (def.http) {
    const http = app as unknown as INestApplication;
    await http.listen(config.http.port, env['HOST'] ?? '0.0.0.0');
    const url = await http.getUrl();
    logger.log(`${def.name} ready on ${url.replace('[::1]', 'localhost')}`, 'Bootstrap');
  } else {
    await app.init();
    logger.log(`${def.name} ready`, 'Bootstrap');
  }
  const intervalMs = watchdogIntervalMs(env);
  if (intervalMs !== undefined) {
    if (def.liveness) {
      watchdog = new SystemdWatchdog({ probe: def.liveness(app, config), notify: systemdNotify(), intervalMs, log: (m) => logger.warn(m, 'Watchdog') });
      watchdog.start();
      logger.log(`systemd watchdog: probing every ${intervalMs} ms, pinging only while the app makes progress`, 'Bootstrap');
    } else {
      logger.error(`${def.name} runs under a systemd watchdog but has no liveness probe: it will never ping`, 'Bootstrap');
    }
  }
  return app;
}

/**
 * For main.ts: `--help` lists the environment variables the app reads and exits 0; any
 * argument is refused (exit 2: apps take their configuration from the environment only).
 * Then start; a configuration error is printed plainly and, like a crash at start, exits 2.
 */
export function runApp<A extends INestApplicationContext = INestApplication>(def: AppDefinition<A>): void {
  parseCommandLine(appCommandLine(def.name));
  startApp(def).catch((err: unknown) => {
    if (err instanceof ConfigError) {
      console.error(`${def.name}: ${err.message}`);
    } else {
      console.error(`${def.name}: failed to start:`, err);
    }
    process.exit(EXIT.usage);
  });
}
