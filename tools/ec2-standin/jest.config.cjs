module.exports = {
  displayName: 'ec2-standin',
  preset: '../../jest.preset.js',
  testEnvironment: 'node',
  // Instances start real processes; on a busy machine a node start alone can take seconds.
  testTimeout: 30_000,
  moduleFileExtensions: ['ts', 'js', 'html'],
  coverageDirectory: '../../coverage/tools/ec2-standin',
};
