export * from './simulation';
export * from './scenarios';
export * from './cli';
