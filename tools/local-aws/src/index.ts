export * from './local-aws';
export * from './fault-proxy';
