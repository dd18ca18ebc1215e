export * from './apps';
export * from './stack';
