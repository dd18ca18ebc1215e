export * from './lib/logging.module';
export * from './lib/bootstrap';
