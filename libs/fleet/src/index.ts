export * from './lib/fleet';
