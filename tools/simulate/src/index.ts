export * from './simulation';
export * from './scenarios';
export * from './cli';
export * from './pricing';
export * from './cost';
