/**
 * `npm run bench:queue [-- --messages 300]`: round trips through the embedded SQS,
 * one message at a time (send, receive, delete) and in batches of ten, measured
 * side by side in one run. Prints messages per second for each.
 */
import { EXIT, parseCommandLine, runMain, writeJsonOutput } from '@app/command-line';
import { startTestStack } from '@tools/testing';
import { median } from '@tools/loadgen';
import type { Queue } from '@app/aws';

async function oneAtATime(q: Queue, n: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    await q.send(`m${i}`);
    const [m] = await q.receive({ maxMessages: 1 });
    await q.delete(m.receiptHandle);
  }
  return n / ((performance.now() - started) / 1000);
}

async function batched(q: Queue, n: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < n; i += 10) {
    await q.sendBatch(Array.from({ length: 10 }, (_, j) => ({ id: `m${j}`, body: `m${i + j}` })));
    let got = 0;
    while (got < 10) {
      const ms = await q.receive({ maxMessages: 10 });
      got += ms.length;
      await q.deleteBatch(ms.map((m) => m.receiptHandle));
    }
  }
  return n / ((performance.now() - started) / 1000);
}

const values = parseCommandLine({
  name: 'npm run bench:queue --',
  summary: 'Round trips through the embedded SQS, one message at a time and in batches of ten, side by side; prints messages per second for each.',
  flags: {
    messages: { type: 'string', description: 'messages per round (rounded up to a multiple of 10)', default: '300', number: { integer: true, min: 10 } },
    json: { type: 'string', value: 'OUT', description: 'write the figures as JSON' },
  },
});

runMain('bench:queue', async () => {
  const n = Math.ceil(Number(values.messages) / 10) * 10;
  const stack = await startTestStack();
  try {
    const q = stack.resources.monitorQueue;
    await oneAtATime(q, 20); // warm up connections
    const rounds: { single: number; batch: number }[] = [];
    for (let r = 0; r < 3; r++) rounds.push({ single: await oneAtATime(q, n), batch: await batched(q, n) });
    const single = median(rounds.map((r) => r.single));
    const batch = median(rounds.map((r) => r.batch));
    const figures = { messages: n, rounds: 3, oneAtATimePerSecond: Math.round(single), batchedPerSecond: Math.round(batch), ratio: +(batch / single).toFixed(1) };
    console.log(JSON.stringify(figures));
    writeJsonOutput(values.json, figures);
    console.log(`one at a time: ${single.toFixed(0)} msg/s (send+receive+delete); batches of 10: ${batch.toFixed(0)} msg/s`);
  } finally {
    await stack.stop();
  }
  return EXIT.done;
});
