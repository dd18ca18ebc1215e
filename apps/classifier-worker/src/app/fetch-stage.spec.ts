import { UnreachableError, type ObjectStore } from '@app/aws';
import { Classifier } from '@app/classifier';
import { MODEL_DIR, startTestStack, type TestStack } from '@tools/testing';
import { enqueue, photos } from '../../test/worker-test-kit';
import { FetchStage } from './fetch-stage';
import { TransientImageError, type Job } from './job';

describe('FetchStage against the embedded S3', () => {
  let stack: TestStack;
  let classifier: Classifier;
  beforeAll(async () => {
    stack = await startTestStack({ queuePrefix: 'fetch-' });
    classifier = await Classifier.create({ modelDir: MODEL_DIR });
  }, 60_000);
  afterAll(async () => {
    await classifier.close();
    await stack.stop();
  });
  const job = (msg: Job['msg']): Job => ({ msg, receiveCount: 1, receivedAt: performance.now(), t: {} });

  it('reads and decodes an image, timing both', async () => {
    const [msg] = await enqueue(stack, photos(1));
    const j = job(msg);
    const decoded = await new FetchStage(stack.resources.inputBucket, classifier).run(j);
    expect(decoded.data.length).toBeGreaterThan(0);
    expect(j.t).toEqual({ download: expect.any(Number), decode: expect.any(Number) });
  }, 30_000);

  it('a missing or undecodable image is permanent; storage that cannot be reached is transient', async () => {
    const [gone, text, ok] = await enqueue(stack, [
      { bytes: Buffer.from('x'), ext: 'jpg', name: 'gone.jpg', missing: true },
      { bytes: Buffer.from('just text'), ext: 'jpg', name: 'text.jpg' },
      { ...photos(1)[0], name: 'ok.jpg' },
    ]);
    const stage = new FetchStage(stack.resources.inputBucket, classifier);
    await expect(stage.run(job(gone))).rejects.toMatchObject({ name: 'PermanentImageError', message: 'image not found in the input bucket' });
    await expect(stage.run(job(text))).rejects.toMatchObject({ name: 'PermanentImageError', message: 'not a JPEG, PNG, WebP or GIF image' });
    const down = Object.create(stack.resources.inputBucket) as ObjectStore;
    down.getBuffer = () => Promise.reject(new UnreachableError('s3.GetObject: ECONNREFUSED', 's3.GetObject'));
    const flaky = new FetchStage(down, classifier);
    await expect(flaky.run(job(ok))).rejects.toBeInstanceOf(TransientImageError);
  }, 30_000);
});
