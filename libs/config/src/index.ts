export * from './lib/app-config';
export * from './lib/config.module';
export { Environment } from './lib/environment';
