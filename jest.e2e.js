/**
 * A project's long end-to-end scenarios (`*.e2e.spec.ts`, run by `npm run test:e2e`), from its
 * own Jest config: the same set-up, only those files, and a bound for whole-system runs of
 * minutes (each test sets its own too). jest.preset.js keeps them out of `npm test`.
 */
module.exports = function e2eConfig(base) {
  return {
    ...base,
    displayName: `${base.displayName} e2e`,
    testMatch: ['<rootDir>/src/**/*.e2e.spec.ts'],
    testPathIgnorePatterns: ['/node_modules/'],
    testTimeout: 300_000,
  };
};
