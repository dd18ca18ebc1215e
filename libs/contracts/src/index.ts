export * from './lib/errors';
export * from './lib/keys';
export * from './lib/messages';
export * from './lib/codec';
export * from './lib/take-messages';
export { jsonBytes } from './lib/validation';
export * from './lib/fleet';
export * from './lib/image-type';
export * from './lib/apps';
