export * from './lib/classifier';
