/** Entry of the `ics/local-aws` image: the local edge (edge.ts) until SIGTERM or SIGINT. */
import { edgeSettings, startEdge } from './edge';

async function main(): Promise<void> {
  const settings = edgeSettings(process.env);
  const log = (line: string) => console.log(line);
  const edge = await startEdge(settings, log);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`local edge: ${signal}, stopping the instances and the edge`);
    edge.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`local edge: could not stop cleanly: ${String(err)}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  // Ready only once a stop would be clean: a SIGTERM sent on this line must not find Node's default (death).
  log(`local edge: S3 + SQS on ${edge.aws.endpoint}, EC2 on port ${edge.ec2.port} (launch template ${settings.launchTemplateId}, worker ${settings.workerMain})`);
}

main().catch((err: unknown) => {
  console.error(`local edge: ${(err as Error).message}`);
  process.exit(1);
});
