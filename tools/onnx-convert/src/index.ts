export * from './lib/convert';
export * from './lib/tf-graph';
export * from './lib/convert-folder';
