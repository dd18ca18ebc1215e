import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { LOCAL_CREDENTIALS, startLocalAws, type LocalAws } from './local-aws';

describe('startLocalAws queues', () => {
  let aws: LocalAws;
  let sqs: SQSClient;

  beforeAll(async () => {
    aws = await startLocalAws({ port: 0, monitorMaxReceiveCount: 2, monitorVisibilitySeconds: 1 });
    sqs = new SQSClient({ region: aws.env['AWS_REGION'], endpoint: aws.endpoint, credentials: LOCAL_CREDENTIALS });
  });
  afterAll(async () => {
    sqs.destroy();
    await aws.stop();
  });

  const receive = async (url: string, wait = 2) =>
    (await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: wait, AttributeNames: ['All'] }))).Messages ?? [];

  it('names the monitor dead-letter queue in the environment', () => {
    expect(aws.env['MONITOR_DEAD_LETTER_QUEUE_URL']).toBe(`${aws.endpoint}/000000000000/ics-monitor-dlq`);
    expect(aws.queues.monitorDeadLetter).toBe(aws.env['MONITOR_DEAD_LETTER_QUEUE_URL']);
  });

  it('moves a monitor message received maxReceiveCount times without a delete to ics-monitor-dlq', async () => {
    await sqs.send(new SendMessageCommand({ QueueUrl: aws.queues.monitor, MessageBody: 'keeps failing' }));
    for (let i = 1; i <= 2; i++) {
      const [m] = await receive(aws.queues.monitor, 3);
      expect(m).toMatchObject({ Body: 'keeps failing', Attributes: expect.objectContaining({ ApproximateReceiveCount: String(i) }) });
    }
    // When the second receive's 1 s visibility ends, the message moves: a long poll on the dead-letter queue gets it then.
    const [dead] = await receive(aws.queues.monitorDeadLetter, 5);
    expect(dead?.Body).toBe('keeps failing');
    expect(await receive(aws.queues.monitor, 0)).toEqual([]);
  });
});
