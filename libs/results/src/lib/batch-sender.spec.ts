import type { BatchEntry, BatchFailure, Queue } from '@app/aws';
import { BatchSender } from './batch-sender';

function fakeQueue(refuse: (e: BatchEntry, call: number) => boolean = () => false) {
  const calls: string[][] = [];
  const queue = {
    sendBatch: async (entries: BatchEntry[]): Promise<BatchFailure[]> => {
      calls.push(entries.map((e) => e.body));
      await new Promise((r) => setTimeout(r, 5));
      return entries
        .filter((e) => refuse(e, calls.length))
        .map((e) => ({ id: e.id, code: 'InternalError', message: 'try again', senderFault: false }));
    },
  } as unknown as Queue;
  return { queue, calls };
}

describe('BatchSender', () => {
  it('sends at once when idle, and batches (at most ten) what arrives meanwhile', async () => {
    const { queue, calls } = fakeQueue();
    const sender = new BatchSender(queue);
    await Promise.all(Array.from({ length: 25 }, (_, i) => sender.send(`m${i}`)));
    expect(calls[0]).toEqual(['m0']);
    expect(calls.slice(1).map((c) => c.length)).toEqual([10, 10, 4]);
    expect(calls.flat()).toHaveLength(25);
  });

  it('retries refused entries, and gives up after three tries', async () => {
    const { queue, calls } = fakeQueue((e, call) => e.body === 'always' || (e.body === 'once' && call === 1));
    const sender = new BatchSender(queue);
    const once = sender.send('once');
    const always = sender.send('always');
    await expect(once).resolves.toBeUndefined();
    await expect(always).rejects.toThrow(/not sent after 3 tries: InternalError: try again/);
    expect(calls.flat().filter((b) => b === 'always')).toHaveLength(3);
  });
});
