// Docker HEALTHCHECK of the app images (copied to /usr/local/lib/healthcheck.cjs).
//   node healthcheck.cjs http    GET http://127.0.0.1:$PORT/health answers 2xx (web tier, controllers)
//   node healthcheck.cjs queue   the worker's launch queue answers, with the worker's own
//                                configuration and AWS SDK (GetQueueAttributes, no side effects)
//   node healthcheck.cjs edge    the local edge image's S3/SQS and EC2 ports answer HTTP
// Exit 0 healthy, 1 not; the reason goes to stderr, which `docker inspect` shows.
'use strict';
const mode = process.argv[2] || 'http';
const fail = (why) => {
  console.error(`unhealthy: ${why}`);
  process.exit(1);
};
setTimeout(() => fail('no answer within 4 s'), 4000).unref();

if (mode === 'http') {
  const port = process.env.PORT || '3000';
  fetch(`http://127.0.0.1:${port}/health`).then(
    (res) => (res.ok ? process.exit(0) : fail(`GET /health answered ${res.status}`)),
    (err) => fail(`GET /health: ${err.message}`),
  );
} else if (mode === 'queue') {
  // The image's app is in /app; from a checkout, the workspace's own node_modules.
  let sdk;
  try {
    sdk = require('/app/node_modules/@aws-sdk/client-sqs');
  } catch {
    sdk = require('@aws-sdk/client-sqs');
  }
  const { SQSClient, GetQueueAttributesCommand } = sdk;
  const url = process.env.LAUNCH_QUEUE_URL;
  if (!url) fail('LAUNCH_QUEUE_URL is not set');
  const sqs = new SQSClient({
    region: process.env.AWS_REGION || 'us-east-1',
    endpoint: process.env.AWS_ENDPOINT_URL_SQS || process.env.AWS_ENDPOINT_URL,
    maxAttempts: 1,
  });
  sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] })).then(
    () => process.exit(0),
    (err) => fail(`launch queue: ${err.name}: ${err.message}`),
  );
} else if (mode === 'edge') {
  // The local edge image: S3/SQS and the EC2 stand-in both answer HTTP (any status: they are up).
  const ports = [process.env.LOCAL_AWS_PORT || '4566', process.env.LOCAL_EC2_PORT || '4567'];
  Promise.all(ports.map((p) => fetch(`http://127.0.0.1:${p}/`).then((res) => res.arrayBuffer()))).then(
    () => process.exit(0),
    (err) => fail(`edge ports ${ports.join(', ')}: ${err.message}`),
  );
} else {
  fail(`unknown mode ${mode} (http, queue or edge)`);
}
