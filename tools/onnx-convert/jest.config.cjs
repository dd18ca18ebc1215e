module.exports = {
  displayName: 'onnx-convert',
  preset: '../../jest.preset.js',
  // ONNX Runtime runs in the test process: see the environment's comment.
  testEnvironment: '<rootDir>/../../libs/classifier/test/onnx-jest-environment.cjs',
  moduleFileExtensions: ['ts', 'js', 'html'],
  coverageDirectory: '../../coverage/tools/onnx-convert',
};
