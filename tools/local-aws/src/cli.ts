/**
 * `npm run local-aws`: the embedded S3 + SQS on one port, until Ctrl-C.
 * Options: --port N (default 4566; 0 = any free port), --data DIR (default .local-aws).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startLocalAws } from './local-aws';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: process.env['LOCAL_AWS_PORT'] ?? '4566' },
      data: { type: 'string', default: '.local-aws' },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--port must be a port number from 0 to 65535 (got ${values.port})`);
  }
  const aws = await startLocalAws({ port, dataDir: resolve(values.data) });
  console.log(`local AWS (S3 + SQS) listening on ${aws.endpoint}; S3 data in ${aws.dataDir}`);
  console.log('Use it from any AWS SDK or CLI with:\n');
  for (const [k, v] of Object.entries(aws.env)) console.log(`export ${k}=${v}`);
  const stop = () => {
    void aws.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(`local-aws: ${(err as Error).message}`);
  process.exit(1);
});
