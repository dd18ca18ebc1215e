#!/usr/bin/env node
/**
 * `ics`: the command-line client of the image classification service.
 * `ics --help` lists the commands; `ics <command> --help` their flags.
 */
import { EXIT_INTERRUPTED, runCli } from './program';
import { TerminalProgress } from './classify/progress';

// A reader that went away (`ics results … | head`) is not an error of ours.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const interrupt = new AbortController();
process.on('SIGINT', () => {
  // The first Ctrl-C stops the run cleanly (what was uploaded is recorded); a second one leaves at once.
  if (interrupt.signal.aborted) process.exit(EXIT_INTERRUPTED);
  interrupt.abort(new Error('interrupted'));
});

runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: interrupt.signal,
  progress: () => new TerminalProgress(process.stderr),
}).then(
  (code) => {
    process.exitCode = code;
    // Leave once stdout has drained (an export piped to another program).
    process.stdout.write('', () => process.exit(code));
  },
  (err: unknown) => {
    process.stderr.write(`ics: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(2);
  },
);
