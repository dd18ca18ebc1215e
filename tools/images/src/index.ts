export * from './edge/edge';
export * from './catalogue';
