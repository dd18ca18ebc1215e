export * from './run';
export * from './report';
export * from './chart';
export * from './chart-page';
