import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { ListQueuesCommand, SQSClient, SendMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';

const ROOT = resolve(__dirname, '../../..');

describe('npm run local-aws', () => {
  it('prints an environment that the AWS SDK uses as it is', async () => {
    const data = mkdtempSync(join(tmpdir(), 'local-aws-cli-'));
    const child = spawn(process.execPath, [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), '--tsconfig', 'tsconfig.base.json', 'tools/local-aws/src/cli.ts', '--port', '0', '--data', data], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    // Ready when every variable this test uses is printed (whole lines); an exit before that fails at once, with what it said.
    const used = ['AWS_ENDPOINT_URL', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'S3_FORCE_PATH_STYLE', 'INPUT_BUCKET', 'OUTPUT_BUCKET'];
    const queues = ['LAUNCH_QUEUE_URL', 'MONITOR_QUEUE_URL', 'OUTPUT_QUEUE_URL', 'MONITOR_DEAD_LETTER_QUEUE_URL'];
    const printed = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if ([...used, ...queues].every((k) => new RegExp(`^export ${k}=.*\n`, 'm').test(out))) resolve();
      });
      child.stderr.on('data', (b: Buffer) => (err += b.toString()));
      void exited.then((code) => reject(new Error(`npm run local-aws exited ${code} before printing its environment:\n${out}${err}`)));
    });
    try {
      await printed;
      const env = Object.fromEntries([...out.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
      expect(Object.keys(env)).toEqual(
        expect.arrayContaining(['AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'LAUNCH_QUEUE_URL', 'INPUT_BUCKET', 'MONITOR_DEAD_LETTER_QUEUE_URL']),
      );
      // Only what was printed: endpoint, region, keys and checksum mode, the way a shell would pass them.
      const common = {
        region: env['AWS_REGION'],
        endpoint: env['AWS_ENDPOINT_URL'],
        credentials: { accessKeyId: env['AWS_ACCESS_KEY_ID'], secretAccessKey: env['AWS_SECRET_ACCESS_KEY'] },
      };
      const s3 = new S3Client({ ...common, forcePathStyle: env['S3_FORCE_PATH_STYLE'] === 'true' });
      const buckets = (await s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name);
      expect(buckets).toEqual(expect.arrayContaining([env['INPUT_BUCKET'], env['OUTPUT_BUCKET']]));
      const sqs = new SQSClient(common);
      const urls = (await sqs.send(new ListQueuesCommand({}))).QueueUrls ?? [];
      expect(urls).toEqual(
        expect.arrayContaining([env['LAUNCH_QUEUE_URL'], env['MONITOR_QUEUE_URL'], env['OUTPUT_QUEUE_URL'], env['MONITOR_DEAD_LETTER_QUEUE_URL']]),
      );
      await sqs.send(new SendMessageCommand({ QueueUrl: env['OUTPUT_QUEUE_URL'], MessageBody: 'hello' }));
      const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: env['OUTPUT_QUEUE_URL'], WaitTimeSeconds: 1 }));
      expect(got.Messages?.[0].Body).toBe('hello');
      s3.destroy();
      sqs.destroy();
    } finally {
      child.kill('SIGINT');
      // tsx, the launcher, relays the SIGINT; under Node 22 it reports 130 (interrupted) whatever the
      // program's own code, under Node 24 the program's 0. Either is a clean stop; a crash is neither.
      expect([0, 130]).toContain(await exited);
      rmSync(data, { recursive: true, force: true });
    }
  }, 60_000);
});
