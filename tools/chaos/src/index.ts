export * from './ledger';
export * from './service-client';
export * from './result-tracker';
export * from './chaos';
export * from './soak';
