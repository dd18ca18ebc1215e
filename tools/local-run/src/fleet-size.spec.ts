import { localMaxWorkers } from './fleet-size';

describe("npm start's fleet size (MAX_WORKERS when unset)", () => {
  it('gives a TF.js model, or a model whose engine is not known yet, one worker per core', () => {
    expect([1, 2, 8].map((cores) => localMaxWorkers(cores, 'tfjs'))).toEqual([1, 2, 8]);
    expect(localMaxWorkers(4, undefined)).toBe(4);
  });

  it('gives an ONNX model one worker per two cores, and always at least one', () => {
    expect([1, 2, 3, 8].map((cores) => localMaxWorkers(cores, 'onnx'))).toEqual([1, 1, 1, 4]);
  });
});
