export * from './lib/types';
export * from './lib/errors';
export * from './lib/sse';
export * from './lib/follow';
export * from './lib/client';
