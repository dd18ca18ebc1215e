const nxPreset = require('@nx/jest/preset').default;

module.exports = {
  ...nxPreset,
  // A bound for a loaded 2-core machine (CI runs several projects at once), not the expected time:
  // tests wait on events, and one that hangs still fails.
  testTimeout: 30_000,
  // *.e2e.spec.ts: the long end-to-end scenarios (chaos, the elastic fleet, the EC2 path, a real
  // fresh clone), each of which runs the whole system for a minute or more. They run with
  // `npm run test:e2e` (each project's jest.e2e.config.cts), not in `npm test`, whose budget is minutes.
  testPathIgnorePatterns: ['/node_modules/', '\\.e2e\\.spec\\.ts$'],
  // Marks what the test helpers start, and kills (and reports) whatever a test failed to stop.
  globalSetup: require('node:path').join(__dirname, 'tools/testing/src/jest/global-setup.ts'),
  globalTeardown: require('node:path').join(__dirname, 'tools/testing/src/jest/global-teardown.ts'),
};
