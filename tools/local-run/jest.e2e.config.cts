// The long end-to-end scenarios of this project (`npm run test:e2e`); jest.config.cts leaves them out of `npm test`.
const base = require('./jest.config.cts');

module.exports = {
  ...base,
  displayName: `${base.displayName} e2e`,
  testMatch: ['<rootDir>/src/**/*.e2e.spec.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  // Whole-system runs of a minute or more; each test sets its own bound too.
  testTimeout: 300_000,
};
