// Jest's node environment runs tests in a vm context with its own typed-array
// classes, while onnxruntime-node's native code makes tensors with the host's:
// its `instanceof Float32Array` checks then fail ("A float32 tensor's data must
// be type of function Float32Array()"). Tests that run ONNX Runtime in the test
// process use this environment, which gives the context the host's classes.
const { TestEnvironment } = require('jest-environment-node');

const TYPED_ARRAYS = [
  'Float32Array', 'Float64Array', 'Int8Array', 'Int16Array', 'Int32Array', 'Uint8Array', 'Uint8ClampedArray',
  'Uint16Array', 'Uint32Array', 'BigInt64Array', 'BigUint64Array', 'ArrayBuffer',
];

class OnnxEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of TYPED_ARRAYS) this.global[name] = globalThis[name];
  }
}

module.exports = OnnxEnvironment;
