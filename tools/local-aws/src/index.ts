export * from './local-aws';
