const nxPreset = require('@nx/jest/preset').default;

module.exports = {
  ...nxPreset,
  // Marks what the test helpers start, and kills (and reports) whatever a test failed to stop.
  globalSetup: require('node:path').join(__dirname, 'tools/testing/src/jest/global-setup.ts'),
  globalTeardown: require('node:path').join(__dirname, 'tools/testing/src/jest/global-teardown.ts'),
};
