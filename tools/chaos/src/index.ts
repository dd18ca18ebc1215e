export * from './ledger';
export * from './stats';
export * from './service-client';
export * from './result-tracker';
export * from './chaos';
export * from './soak';
