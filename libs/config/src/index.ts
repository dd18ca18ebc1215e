export * from './lib/app-config';
export * from './lib/config.module';
export { Environment } from './lib/environment';
export * from './lib/worker.env';
export * from './lib/web.env';
export * from './lib/scaling.env';
export * from './lib/variables';
