export * from './lib/command-line';
