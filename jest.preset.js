const nxPreset = require('@nx/jest/preset').default;

module.exports = {
  ...nxPreset,
  // A bound for a loaded 2-core machine (CI runs several projects at once), not the expected time:
  // tests wait on events, and one that hangs still fails.
  testTimeout: 30_000,
  // Marks what the test helpers start, and kills (and reports) whatever a test failed to stop.
  globalSetup: require('node:path').join(__dirname, 'tools/testing/src/jest/global-setup.ts'),
  globalTeardown: require('node:path').join(__dirname, 'tools/testing/src/jest/global-teardown.ts'),
};
