import { classifierReport, type PipelineRound, type RunMeasurements } from './classifier-report';

const timings = (totalMs: number) => ({ claimMs: 1, downloadMs: 2, decodeMs: 3, inferMs: 4, publishMs: 5, totalMs });

function round(rate: number, cpu: PipelineRound['cpu'], totals: number[] = [100]): PipelineRound {
  return { rate, cpu, logs: totals.map((t) => ({ timings: timings(t) })), requests: { s3: 2, sqs: 0.6 }, byOperation: { 's3 GET': 1, 's3 PUT': 1 } };
}

const workerCpu = (main: number, other: number) => ({ workerMainThread: main, workerOtherThreads: other, emulator: 4, byThread: { main, WorkerThread: other }, waitByThread: { main: 1 } });

function measurements(pipeline: PipelineRound[]): RunMeasurements {
  return {
    engine: 'onnx',
    backend: 'onnxruntime-cpu',
    model: 'm',
    images: 100,
    batchSize: 4,
    prefetch: 20,
    rounds: 3,
    warmUpRounds: 1,
    raw: [
      { rate: 100, cpuMsPerImage: 8 },
      { rate: 120, cpuMsPerImage: 7 },
      { rate: 110, cpuMsPerImage: 9 },
      { rate: 130, cpuMsPerImage: 8 },
    ],
    pipeline,
    coldStartMs: 1234.4,
    workerColdStartMs: 1100,
    rssMbAfterFirstRound: 300,
    rssMbAtEnd: 310,
    imagesVerified: 500,
    cores: 2,
    edgeStorage: 'memory',
    edgeNice: 5,
  };
}

describe("bench:classifier's report", () => {
  it('takes the medians of the timed rounds only, and the worker outside the model as its CPU less the raw loop\'s', () => {
    const report = classifierReport(
      measurements([
        round(10, workerCpu(9, 30)), // cold
        round(20, workerCpu(6, 20)), // warm-up
        round(80, workerCpu(3, 11), [100, 200]),
        round(90, workerCpu(4, 12), [300]),
        round(85, workerCpu(3, 10), [400]),
      ]),
    );
    expect(report).toMatchObject({
      // @tools/loadgen's median of an even count is the upper middle one: 120 of 100, 110, 120, 130.
      rawImagesPerSecond: 120,
      edgeStorage: 'memory',
      edgeNice: 5,
      pipelineImagesPerSecond: 85,
      ratio: 0.71,
      rawMsPerImage: 8.33,
      rawCpuMsPerImage: 8,
      // Medians per key: main 3, other 11, emulator 4; 3 + 11 - 8 outside the model.
      cpuMsPerImage: { workerMainThread: 3, workerOtherThreads: 11, emulator: 4, total: 18, workerOutsideModel: 6, workerLessRawModel: 6 },
      workerCpuMsPerImageByThread: { WorkerThread: 11, main: 3 },
      cpuBoundImagesPerSecond: 111.1,
      breakdownMs: { claim: 1, download: 2, decode: 3, infer: 4, publish: 5 },
      p50Ms: 200,
      coldRoundImagesPerSecond: 10,
      warmUpRoundsImagesPerSecond: [20],
      pipelineRoundsImagesPerSecond: [80, 90, 85],
      rawRoundsImagesPerSecond: [100, 120, 110, 130],
      requestsPerImage: { s3: 2, sqs: 0.6, byOperation: { 's3 GET': 1, 's3 PUT': 1 } },
      coldStartMs: 1234,
      rssMbAfterFirst100: 300,
    });
  });

  it("subtracts the model's CPU in the worker where the worker logs it, and still shows the raw loop's difference beside it", () => {
    const withModelCpu = (r: PipelineRound, modelCpuMs: number[]): PipelineRound => ({ ...r, logs: modelCpuMs.map((c) => ({ timings: { ...timings(100), modelCpuMs: c } })) });
    const report = classifierReport(
      measurements([
        round(10, workerCpu(9, 30)),
        round(20, workerCpu(6, 20)),
        withModelCpu(round(80, workerCpu(3, 11)), [9, 10]), // 9.5 an image
        withModelCpu(round(90, workerCpu(4, 12)), [9]),
        withModelCpu(round(85, workerCpu(3, 10)), [8.5]),
      ]),
    );
    // Medians: worker 3 + 11 = 14; the model 9 in the worker (8 in the raw loop).
    expect(report.modelCpuMsPerImageInWorker).toBe(9);
    expect(report.cpuMsPerImage).toMatchObject({ workerOutsideModel: 5, workerLessRawModel: 6 });
    // A round without the figure (an older Node) falls back to the raw loop's for all.
    const partial = classifierReport(measurements([round(10, workerCpu(9, 30)), round(20, workerCpu(6, 20)), withModelCpu(round(80, workerCpu(3, 11)), [9]), round(90, workerCpu(4, 12)), round(85, workerCpu(3, 10))]));
    expect(partial.modelCpuMsPerImageInWorker).toBeUndefined();
    expect(partial.cpuMsPerImage.workerOutsideModel).toBe(6);
  });

  it('tells what share of the timed images ran in model runs of each size (the cold and warm-up rounds left out)', () => {
    const withBatches = (r: PipelineRound, sizes: (number | undefined)[]): PipelineRound => ({ ...r, logs: sizes.map((batchSize) => ({ timings: timings(100), batchSize })) });
    const report = classifierReport(
      measurements([
        withBatches(round(10, workerCpu(9, 30)), [1, 1, 1, 1]),
        withBatches(round(20, workerCpu(6, 20)), [1, 1]),
        withBatches(round(80, workerCpu(3, 11)), [4, 4, 4, 4, 1]),
        withBatches(round(90, workerCpu(4, 12)), [4, 4, 4, 4, 2, 2, undefined]),
        withBatches(round(85, workerCpu(3, 10)), [3, 3, 3, 1, 10, 10, 10, 10, 10, 10]),
      ]),
    );
    // 21 timed images with a size: 2, 2, 3, 8 and 6 of them.
    expect(report.imagesByModelBatchSize).toEqual({ '1': 0.1, '2': 0.1, '3': 0.14, '4': 0.38, '10': 0.29 });
    expect(Object.keys(report.imagesByModelBatchSize)).toEqual(['1', '2', '3', '4', '10']);
  });

  it("reports no worker figure where the worker's threads could not be read, never a made-up one", () => {
    const emulatorOnly = { emulator: 4 };
    const report = classifierReport(measurements([round(10, emulatorOnly), round(20, emulatorOnly), round(80, emulatorOnly), round(90, emulatorOnly), round(85, emulatorOnly)]));
    expect(report.cpuMsPerImage).toEqual({ emulator: 4, total: 4, workerOutsideModel: undefined, workerLessRawModel: undefined });
    expect(report.workerCpuMsPerImageByThread).toEqual({});
  });
});
