import type { IncomingMessage, ServerResponse } from 'node:http';

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/**
 * local-aws-sqs keeps serving a long poll after its client is gone: the poll
 * of a process that died (a SIGKILLed worker) still takes the next message and
 * hides it for the whole visibility timeout, although nobody can ever receive
 * it. This wrapper gives such messages back at once (ChangeMessageVisibility to
 * 0) when it sees the connection closed before the answer.
 *
 * Real SQS can do the same (aws/aws-sdk-js#2350, aws/aws-sdk-java-v2#1395: a
 * poll cut short on the client still takes the next message), and this wrapper
 * misses an answer already on its way when the client gives up. So the system
 * never relies on it: a worker that hands its images back leaves its own poll
 * to end (QueueConsumer.stop's `finishReceive`), and a dead worker's hidden
 * message only comes back later, never lost. `hand-back-all.spec.ts` tests the
 * worker through a double that behaves as SQS does.
 */
export function releaseAbandonedReceives(
  handler: Handler,
  endpoint: () => string,
  accountId: string,
): Handler {
  return async (req, res) => {
    if (req.headers['x-amz-target'] !== 'AmazonSQS.ReceiveMessage')
      return handler(req, res);
    let clientGone = false;
    res.once('close', () => {
      if (!res.writableEnded) clientGone = true;
    });
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    (res as { end: (...args: unknown[]) => ServerResponse }).end = (
      ...args: unknown[]
    ) => {
      const body = args[0];
      if (
        (clientGone || res.destroyed) &&
        (typeof body === 'string' || Buffer.isBuffer(body))
      ) {
        void release(body.toString(), endpoint(), accountId);
      }
      return end(...args);
    };
    return handler(req, res);
  };
}

async function release(
  body: string,
  endpoint: string,
  accountId: string,
): Promise<void> {
  let messages: { ReceiptHandle?: string }[] = [];
  try {
    messages =
      (JSON.parse(body) as { Messages?: { ReceiptHandle?: string }[] })
        .Messages ?? [];
  } catch {
    return; // an error answer or no message: nothing was taken
  }
  for (const { ReceiptHandle } of messages) {
    const queueName = queueOf(ReceiptHandle);
    if (!ReceiptHandle || !queueName) continue;
    await fetch(endpoint, {
      method: 'POST',
      headers: {
        'x-amz-target': 'AmazonSQS.ChangeMessageVisibility',
        'content-type': 'application/x-amz-json-1.0',
      },
      body: JSON.stringify({
        QueueUrl: `${endpoint}/${accountId}/${queueName}`,
        ReceiptHandle,
        VisibilityTimeout: 0,
      }),
    }).catch(() => undefined); // the edge is stopping: the message comes back after its visibility timeout
  }
}

/** The emulator's receipt handles are base64 of a random id and `{ date, MessageId, QueueName }`. */
function queueOf(receiptHandle: string | undefined): string | undefined {
  if (!receiptHandle) return undefined;
  try {
    const text = Buffer.from(receiptHandle, 'base64').toString('utf8');
    return (JSON.parse(text.slice(text.indexOf('{'))) as { QueueName?: string })
      .QueueName;
  } catch {
    return undefined;
  }
}
