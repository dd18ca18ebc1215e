/**
 * `npm run simulate -- --json OUT --chart OUT [--scenario burst|steady] [--compare | --compare-cost] [flags]`
 *
 * What a fleet configuration does on AWS, in seconds: the launch controller's
 * real scaling policy and planner on a virtual clock, with the queue, EC2 and
 * the workers simulated. See USAGE in cli.ts for every flag.
 */
import { runCli, USAGE } from './cli';

try {
  const out = runCli(process.argv.slice(2));
  console.log(out.text);
} catch (err) {
  console.error(`simulate: ${(err as Error).message}\n\n${USAGE}`);
  process.exit(1);
}
