export * from './system';
export * from './ports';
export * from './model';
