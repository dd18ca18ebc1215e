export * from './system';
export * from './ports';
export * from './model';
export * from './worker-census';
export * from './e2e-helpers';
