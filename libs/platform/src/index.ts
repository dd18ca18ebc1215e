export * from './lib/logging.module';
export * from './lib/bootstrap';
export * from './lib/metrics.module';
