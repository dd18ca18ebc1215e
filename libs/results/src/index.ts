export * from './lib/batch-sender';
export * from './lib/attempt-ledger';
export * from './lib/result-publisher';
