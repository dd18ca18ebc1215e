export * from './config-page';
export * from './jsdoc';
