export * from './apps';
export * from './stack';
export * from './env-files';
export * from './browser';
export * from './processes';
