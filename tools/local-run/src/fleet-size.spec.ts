import { fleetSize, localMaxWorkers } from './fleet-size';

describe("npm start's fleet size (MAX_WORKERS when unset)", () => {
  it('gives a TF.js model, or a model whose engine is not known yet, one worker per core', () => {
    expect([1, 2, 8].map((cores) => localMaxWorkers(cores, 'tfjs'))).toEqual([1, 2, 8]);
    expect(localMaxWorkers(4, undefined)).toBe(4);
  });

  it('gives an ONNX model one worker per two cores, and always at least one', () => {
    expect([1, 2, 3, 8].map((cores) => localMaxWorkers(cores, 'onnx'))).toEqual([1, 1, 1, 4]);
  });

  it("takes the caller's MAX_WORKERS as it is, and says where the number came from", () => {
    expect(fleetSize(2, 'onnx', '4')).toEqual({ maxWorkers: '4', line: 'Workers: up to 4 at once (MAX_WORKERS)' });
    expect(fleetSize(2, 'onnx', undefined)).toEqual({ maxWorkers: '1', line: 'Workers: up to 1 at once (MAX_WORKERS: what 2 cores keep busy with ONNX Runtime)' });
    expect(fleetSize(2, 'tfjs', undefined).line).toBe('Workers: up to 2 at once (MAX_WORKERS: what 2 cores keep busy with TF.js)');
    expect(fleetSize(2, undefined, undefined).line).toBe('Workers: up to 2 at once (MAX_WORKERS: what 2 cores keep busy with this model)');
  });
});
