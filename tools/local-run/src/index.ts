export * from './system';
export * from './build';
export * from './supervisor';
export * from './ports';
export * from './model';
export * from './worker-census';
export * from './e2e-helpers';
