export * from './lib/errors';
export * from './lib/clients';
export * from './lib/object-store';
export * from './lib/queue';
export * from './lib/aws-resources';
export * from './lib/aws.module';
export * from './lib/queue-consumer';
export * from './lib/queue-consumer-options';
