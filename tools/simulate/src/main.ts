/**
 * `npm run simulate -- --json OUT --chart OUT [--scenario burst|steady] [--compare | --compare-cost] [flags]`
 *
 * What a fleet configuration does on AWS, in seconds: the launch controller's
 * real scaling policy and planner on a virtual clock, with the queue, EC2 and
 * the workers simulated. `--help` lists every flag.
 */
import { EXIT, parseCommandLine } from '@app/command-line';
import { runCli, SIMULATE_COMMAND_LINE } from './cli';

const argv = process.argv.slice(2);
// --help and unknown flags end here; runCli checks the values.
parseCommandLine(SIMULATE_COMMAND_LINE, argv);
try {
  console.log(runCli(argv).text);
} catch (err) {
  console.error(`simulate: ${(err as Error).message}`);
  process.exit(EXIT.usage);
}
