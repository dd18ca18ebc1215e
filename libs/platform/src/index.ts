export * from './lib/logging.module';
export * from './lib/bootstrap';
export * from './lib/metrics.module';
export * from './lib/ssm-config';
export * from './lib/systemd-watchdog';
