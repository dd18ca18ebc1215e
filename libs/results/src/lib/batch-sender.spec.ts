import { RequestRejectedError, type BatchEntry, type BatchFailure, type Queue } from '@app/aws';
import { BatchDeleter, BatchSender } from './batch-sender';

/** A batch call answers on a later turn of the event loop, as a network call does (under fake timers, when they advance). */
const laterTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

function fakeQueue(refuse: (body: string, call: number) => BatchFailure['code'] | undefined = () => undefined) {
  const calls: string[][] = [];
  let callMade: (() => void) | undefined;
  /** Resolves once the next batch call has been made (it is then in flight). */
  const nextCall = () => new Promise<void>((resolve) => (callMade = resolve));
  const record = (entries: string[]) => {
    calls.push(entries);
    callMade?.();
  };
  const refusal = (id: string, code: string): BatchFailure => ({ id, code, message: 'no', senderFault: code === 'InvalidParameterValue' || code === 'ReceiptHandleIsInvalid' });
  const queue = {
    sendBatch: async (entries: BatchEntry[]): Promise<BatchFailure[]> => {
      record(entries.map((e) => e.body));
      await laterTurn();
      return entries.flatMap((e) => {
        const code = refuse(e.body, calls.length);
        return code ? [refusal(e.id, code)] : [];
      });
    },
    deleteBatch: async (handles: string[]): Promise<BatchFailure[]> => {
      record(handles);
      await laterTurn();
      return handles.flatMap((h) => {
        const code = refuse(h, calls.length);
        return code ? [refusal(h, code)] : [];
      });
    },
  } as unknown as Queue;
  return { queue, calls, nextCall };
}

describe('BatchSender', () => {
  it('sends what one turn of the event loop asks for in calls of at most ten', async () => {
    const { queue, calls } = fakeQueue();
    const sender = new BatchSender(queue);
    await Promise.all(Array.from({ length: 25 }, (_, i) => sender.send(`m${i}`)));
    expect(calls.map((c) => c.length)).toEqual([10, 10, 5]);
    expect(calls.flat()).toEqual(Array.from({ length: 25 }, (_, i) => `m${i}`));
  });

  it('a lone message goes out at once; what arrives while a call is in flight goes in the next call', async () => {
    const { queue, calls, nextCall } = fakeQueue();
    const sender = new BatchSender(queue);
    const inFlight = nextCall();
    const first = sender.send('a');
    await inFlight; // the call for 'a' is in flight
    expect(calls).toEqual([['a']]);
    const rest = ['b', 'c', 'd'].map((b) => sender.send(b));
    await Promise.all([first, ...rest]);
    expect(calls).toEqual([['a'], ['b', 'c', 'd']]);
  });

  it('with lingerMs, the first message waits for company, but not once ten are waiting', async () => {
    jest.useFakeTimers();
    try {
      const { queue, calls } = fakeQueue();
      const sender = new BatchSender(queue, { lingerMs: 50 });
      void sender.send('a');
      await jest.advanceTimersByTimeAsync(40);
      expect(calls).toEqual([]);
      void sender.send('b');
      await jest.advanceTimersByTimeAsync(10);
      expect(calls).toEqual([['a', 'b']]);
      await jest.advanceTimersByTimeAsync(10); // the call ends
      for (let i = 0; i < 10; i++) void sender.send(`n${i}`);
      await jest.advanceTimersByTimeAsync(0);
      expect(calls[1]).toHaveLength(10);
      await jest.advanceTimersByTimeAsync(10);
    } finally {
      jest.useRealTimers();
    }
  });

  it('with expectMore, lingers only while more may come: the batch goes once the sender holds all there will be', async () => {
    jest.useFakeTimers();
    try {
      const { queue, calls } = fakeQueue();
      let coming = 3; // three results on their way
      const sender = new BatchSender(queue, { lingerMs: 10_000, expectMore: (held) => coming > held });
      void sender.send('a');
      void sender.send('b');
      await jest.advanceTimersByTimeAsync(100);
      expect(calls).toEqual([]); // two held, a third coming: they wait
      void sender.send('c');
      await jest.advanceTimersByTimeAsync(0);
      expect(calls).toEqual([['a', 'b', 'c']]);
      await jest.advanceTimersByTimeAsync(10);
      coming = 1; // a lone straggler does not wait at all
      void sender.send('d');
      await jest.advanceTimersByTimeAsync(0);
      expect(calls).toEqual([['a', 'b', 'c'], ['d']]);
      await jest.advanceTimersByTimeAsync(10);
    } finally {
      jest.useRealTimers();
    }
  });

  it('retries entries refused for a passing reason, and gives up after three tries', async () => {
    const { queue, calls } = fakeQueue((body, call) => (body === 'always' || (body === 'once' && call === 1) ? 'InternalError' : undefined));
    const sender = new BatchSender(queue);
    const once = sender.send('once');
    const always = sender.send('always');
    await expect(once).resolves.toBeUndefined();
    await expect(always).rejects.toThrow(/not done after 3 tries: InternalError: no/);
    expect(calls.flat().filter((b) => b === 'always')).toHaveLength(3);
  });

  it('does not retry an entry refused for its own fault, nor a call the service rejected', async () => {
    const { queue, calls } = fakeQueue((body) => (body === 'bad' ? 'InvalidParameterValue' : undefined));
    const sender = new BatchSender(queue);
    await expect(sender.send('bad')).rejects.toThrow(/not done after 1 try: InvalidParameterValue/);
    expect(calls).toEqual([['bad']]);

    const rejecting = { sendBatch: jest.fn().mockRejectedValue(new RequestRejectedError('sqs.SendMessageBatch: denied', 'sqs.SendMessageBatch')) } as unknown as Queue;
    await expect(new BatchSender(rejecting).send('x')).rejects.toThrow(/after 1 try/);
    const down = { sendBatch: jest.fn().mockRejectedValue(new Error('socket hang up')) } as unknown as Queue;
    await expect(new BatchSender(down).send('x')).rejects.toThrow(/after 3 tries: socket hang up/);
  });
});

describe('BatchDeleter', () => {
  it('deletes the receipt handles one turn gives it in one call, and tells each caller its own fate', async () => {
    const { queue, calls } = fakeQueue((h) => (h === 'gone' ? 'ReceiptHandleIsInvalid' : undefined));
    const deleter = new BatchDeleter(queue);
    const outcomes = await Promise.allSettled(['h1', 'gone', 'h3'].map((h) => deleter.delete(h)));
    expect(calls).toEqual([['h1', 'gone', 'h3']]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });
});
