/**
 * `npm run local-aws`: the embedded S3 + SQS on one port, until Ctrl-C.
 * Options: --port N (default 4566; 0 = any free port), --data DIR (default .local-aws).
 */
import { resolve } from 'node:path';
import { parseCommandLine, runMain } from '@app/command-line';
import { startLocalAws } from './local-aws';

const values = parseCommandLine({
  name: 'npm run local-aws --',
  summary: 'Serves the embedded S3 and SQS on one port (SQS told apart by its X-Amz-Target header) until Ctrl-C, and prints the environment to use them.',
  flags: {
    port: { type: 'string', description: 'port (0: any free port)', default: process.env['LOCAL_AWS_PORT'] ?? '4566', number: { integer: true, min: 0, max: 65535 } },
    data: { type: 'string', value: 'DIR', description: 'folder where S3 objects are kept', default: '.local-aws' },
  },
});

runMain('local-aws', async () => {
  const aws = await startLocalAws({ port: Number(values.port), dataDir: resolve(values.data) });
  console.log(`local AWS (S3 + SQS) listening on ${aws.endpoint}; S3 data in ${aws.dataDir}`);
  console.log('Use it from any AWS SDK or CLI with:\n');
  for (const [k, v] of Object.entries(aws.env)) console.log(`export ${k}=${v}`);
  const stop = () => {
    void aws.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
});
