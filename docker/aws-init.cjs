// Creates the buckets and queues of the compose stack in the AWS emulator, from the
// same variables the apps read (INPUT_BUCKET, OUTPUT_BUCKET, *_QUEUE_URL: the queue
// name is the URL's last part), as the CDK stack does on AWS: the launch and monitor queues
// each get a dead-letter queue `<name>-dlq` after 5 receives. Idempotent; waits for the emulator.
// Runs in the web-tier image (its AWS SDK) as the compose service `aws-init`.
'use strict';
const sdk = (name) => {
  try {
    return require(`/app/node_modules/${name}`);
  } catch {
    return require(name);
  }
};
const { S3Client, CreateBucketCommand } = sdk('@aws-sdk/client-s3');
const { SQSClient, CreateQueueCommand, GetQueueAttributesCommand } = sdk('@aws-sdk/client-sqs');

const env = process.env;
const region = env.AWS_REGION || 'us-east-1';
const s3Endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL;
const sqsEndpoint = env.AWS_ENDPOINT_URL_SQS || env.AWS_ENDPOINT_URL;
const MAX_RECEIVE_COUNT = 5;

function required(name) {
  const value = env[name];
  if (!value) {
    console.error(`aws-init: ${name} is not set`);
    process.exit(2);
  }
  return value;
}
const queueName = (url) => new URL(url).pathname.split('/').filter(Boolean).pop();

async function retry(what, fn, attempts = 30) {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !/ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|socket hang up/.test(String(err && (err.code || err.message)))) {
        throw new Error(`${what}: ${err.name}: ${err.message}`);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

async function main() {
  const buckets = [required('INPUT_BUCKET'), required('OUTPUT_BUCKET')];
  const launch = queueName(required('LAUNCH_QUEUE_URL'));
  const monitor = queueName(required('MONITOR_QUEUE_URL'));
  const output = queueName(required('OUTPUT_QUEUE_URL'));

  const s3 = new S3Client({ region, endpoint: s3Endpoint, forcePathStyle: true });
  const sqs = new SQSClient({ region, endpoint: sqsEndpoint });
  try {
    for (const bucket of buckets) {
      await retry(`create bucket ${bucket}`, async () => {
        try {
          await s3.send(new CreateBucketCommand({ Bucket: bucket }));
        } catch (err) {
          if (err.name !== 'BucketAlreadyOwnedByYou' && err.name !== 'BucketAlreadyExists') throw err;
        }
      });
      console.log(`aws-init: bucket ${bucket}`);
    }
    const createQueue = (name, attributes) =>
      retry(`create queue ${name}`, () => sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes })));
    const deadLetterQueue = async (name) => {
      const dlq = await createQueue(`${name}-dlq`, { MessageRetentionPeriod: '1209600' });
      const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }));
      console.log(`aws-init: queue ${dlq.QueueUrl}`);
      return JSON.stringify({ deadLetterTargetArn: Attributes.QueueArn, maxReceiveCount: MAX_RECEIVE_COUNT });
    };
    const queues = [
      [launch, { VisibilityTimeout: '60', RedrivePolicy: await deadLetterQueue(launch) }],
      [monitor, { VisibilityTimeout: '60', RedrivePolicy: await deadLetterQueue(monitor) }],
      [output, { VisibilityTimeout: '30' }],
    ];
    for (const [name, attributes] of queues) {
      const { QueueUrl } = await createQueue(name, attributes);
      console.log(`aws-init: queue ${QueueUrl}`);
    }
  } finally {
    s3.destroy();
    sqs.destroy();
  }
}

main().then(
  () => console.log('aws-init: ready'),
  (err) => {
    console.error(`aws-init: ${err.message}`);
    process.exit(1);
  },
);
