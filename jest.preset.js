const nxPreset = require('@nx/jest/preset').default;
const { join } = require('node:path');

/**
 * The workspace's import aliases (tsconfig.base.json `paths`, all exact names), mapped for Jest's own
 * resolver: otherwise each alias first fails Jest's resolution and then goes through TypeScript's,
 * which every worker loads for it.
 */
const aliases = Object.fromEntries(
  Object.entries(require('./tsconfig.base.json').compilerOptions.paths).map(([name, [target]]) => [
    `^${name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`,
    join(__dirname, target),
  ]),
);

module.exports = {
  ...nxPreset,
  moduleNameMapper: aliases,
  // Specs are transpiled by swc, file by file: types are checked once for the whole workspace by the
  // typecheck target, so the tests need only the JavaScript (swc does it in a fraction of ts-jest's CPU).
  // Nest's dependency injection reads the constructor types that decorator metadata records.
  transform: {
    '^.+\\.[tj]s$': [
      '@swc/jest',
      {
        jsc: {
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
          target: 'es2022',
          keepClassNames: true,
        },
        module: { type: 'commonjs' },
        sourceMaps: 'inline',
        swcrc: false,
      },
    ],
  },
  // A bound for a loaded 2-core machine (CI runs several projects at once), not the expected time:
  // tests wait on events, and one that hangs still fails.
  testTimeout: 30_000,
  // Two test files at a time per project: most of a spec's time is waiting (a process starting,
  // a long poll, a browser), so two overlap well even on two cores beside Nx's other projects.
  maxWorkers: 2,
  // *.e2e.spec.ts: the long end-to-end scenarios (chaos, the elastic fleet, the EC2 path, a real
  // fresh clone), each of which runs the whole system for a minute or more. They run with
  // `npm run test:e2e` (each project's jest.e2e.config.cjs), not in `npm test`, whose budget is minutes.
  testPathIgnorePatterns: ['/node_modules/', '\\.e2e\\.spec\\.ts$'],
  // Marks what the test helpers start, and kills (and reports) whatever a test failed to stop.
  globalSetup: require('node:path').join(__dirname, 'tools/testing/src/jest/global-setup.ts'),
  globalTeardown: require('node:path').join(__dirname, 'tools/testing/src/jest/global-teardown.ts'),
};
