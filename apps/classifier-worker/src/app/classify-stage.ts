import type { Classifier, DecodedImage } from '@app/classifier';
import { outputSuccessOf, type OutputSuccess } from '@app/contracts';
import { ModelBrokenError, type Job } from './job';

const round = (ms: number | undefined) => (ms === undefined ? undefined : Math.round(ms * 100) / 100);

/**
 * Runs the model on a decoded image and makes its result. A failing model
 * is not the image's fault: ModelBrokenError stops the worker. Reports each
 * image's model time (queueing included) for the prefetch budget.
 */
export class ClassifyStage {
  constructor(
    private readonly classifier: Pick<Classifier, 'infer' | 'backend' | 'model'>,
    private readonly workerId: string,
    private readonly onModelTime: (ms: number) => void = () => undefined,
  ) {}

  async run(job: Job, decoded: DecodedImage): Promise<OutputSuccess> {
    const started = performance.now();
    let inference;
    try {
      inference = await this.classifier.infer(decoded);
    } catch (err) {
      throw new ModelBrokenError((err as Error).message, { cause: err });
    }
    const modelMs = performance.now() - started;
    // A small image is enlarged as its batch is made: its decoding time is known only now.
    job.t.decode = decoded.decodeMs;
    this.onModelTime(modelMs);
    job.t.infer = inference.inferenceMs;
    if (inference.modelCpuMs !== undefined) job.t.modelCpu = inference.modelCpuMs;
    job.t.modelWait = Math.max(0, modelMs - inference.inferenceMs * inference.batchSize);
    job.t.batchSize = inference.batchSize;
    const { msg } = job;
    const totalMs = performance.now() - job.receivedAt;
    return outputSuccessOf(msg, {
      producedBy: this.workerId,
      completedAt: new Date(),
      top5: inference.top5,
      timings: {
        queueMs: round(Math.max(0, Date.now() - totalMs - Date.parse(msg.enqueuedAt))),
        downloadMs: round(job.t.download),
        decodeMs: round(job.t.decode),
        inferenceMs: round(job.t.infer),
        totalMs: round(totalMs),
      },
      backend: this.classifier.backend,
      model: this.classifier.model,
    });
  }
}
