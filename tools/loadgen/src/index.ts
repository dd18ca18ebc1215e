export * from './run';
export * from './report';
export * from './chart';
