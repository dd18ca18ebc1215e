import type { Writable } from 'node:stream';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { TimeoutsOptions } from 'retry';
import { ApiError, IcsClient, isConnectionError } from '@app/api-client';
import { checkNumber, EXIT, UsageError, type NumberRule } from '@app/command-line';
import { classify } from './classify/classify';
import type { ClassifyProgress } from './classify/progress';
import { deleteBatch, listBatches, showResults } from './commands/batch-commands';

/** Exit code of a run stopped by Ctrl-C (128 + SIGINT), as shells report it. */
export const EXIT_INTERRUPTED = 130;

/** What the program touches outside itself, injected so tests run it in-process. */
export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  env: Record<string, string | undefined>;
  /** Aborted on Ctrl-C: the run stops, keeping what it recorded, and says how to resume. */
  signal?: AbortSignal;
  progress: () => ClassifyProgress;
  fetch?: typeof fetch;
  /** The retry schedule (tests shorten it). */
  backoff?: TimeoutsOptions;
  followRetryMs?: number;
}

const EPILOG = `
Environment:
  ICS_URL       the web tier's URL when --url is not given
  ICS_API_KEY   the API key when --key is not given

Exit codes: ${EXIT.done} done, ${EXIT.goalFailed} the run's goal failed (an image without a label, the server refused), ${EXIT.usage} usage error, ${EXIT_INTERRUPTED} interrupted.`;

function numberOption(flags: string, description: string, rule: NumberRule, fallback?: number): Option {
  const flag = flags.replace(/^--([\w-]+).*$/, '$1');
  const option = new Option(flags, description).argParser((text: string) => Number(checkNumber(flag, text, rule)));
  return fallback === undefined ? option : option.default(fallback);
}

function withConnection(cmd: Command): Command {
  return cmd
    .option('--url <URL>', "the web tier's base URL, e.g. http://127.0.0.1:3000 (or ICS_URL)")
    .option('--key <KEY>', 'API key, sent as x-api-key (or ICS_API_KEY)');
}

function clientFrom(opts: { url?: string; key?: string }, io: CliIo): IcsClient {
  const url = opts.url ?? io.env['ICS_URL'];
  if (!url) throw new UsageError('--url is required (or set ICS_URL)');
  if (!/^https?:\/\/[^/]/.test(url)) throw new UsageError(`--url must be an http(s) URL (got ${url})`);
  return new IcsClient({ url, apiKey: opts.key ?? io.env['ICS_API_KEY'], fetch: io.fetch });
}

function buildProgram(io: CliIo, setCode: (code: number) => void): Command {
  const program = new Command('ics')
    .description('Classify images with the image classification service from a terminal.')
    .helpOption('-h, --help', 'show help and exit')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s), outputError: () => undefined })
    .allowExcessArguments(false)
    .addHelpText('after', EPILOG);

  withConnection(program.command('classify').description('upload images as one batch, follow it, write the results; resumes an interrupted run'))
    .argument('<paths...>', 'image files and/or folders (a folder gives its jpg, png, webp and gif files)')
    .option('--out <FILE>', 'write the results here: results.csv or results.json (the run state sits beside it, for resuming); default CSV on stdout')
    .addOption(numberOption('--batch-size <N>', 'files per upload request', { integer: true, min: 1, max: 1000 }, 20))
    .addOption(numberOption('--concurrency <N>', 'upload requests at a time', { integer: true, min: 1, max: 64 }, 4))
    .addHelpText('after', EPILOG)
    .action(async (paths: string[], opts: { url?: string; key?: string; out?: string; batchSize: number; concurrency: number }) => {
      const progress = io.progress();
      const outcome = await classify(
        { inputs: paths, out: opts.out, batchSize: opts.batchSize, concurrency: opts.concurrency },
        { client: clientFrom(opts, io), progress, stdout: io.stdout, signal: io.signal, backoff: io.backoff, followRetryMs: io.followRetryMs },
      );
      const where = opts.out ? ` → ${opts.out}` : '';
      io.stderr.write(`batch ${outcome.batchId}: ${outcome.labelled} of ${outcome.total} images labelled${where}\n`);
      const shown = outcome.problems.slice(0, 20);
      for (const p of shown) io.stderr.write(`  ${p}\n`);
      if (outcome.problems.length > shown.length) io.stderr.write(`  … and ${outcome.problems.length - shown.length} more\n`);
      setCode(outcome.code);
    });

  withConnection(program.command('batches').description("list your batches, newest first"))
    .addOption(numberOption('--limit <N>', 'batches per page', { integer: true, min: 1, max: 100 }, 20))
    .option('--cursor <CURSOR>', 'the page after this cursor (printed at the end of the previous page)')
    .option('--all', 'every page')
    .option('--json', 'print the pages as JSON')
    .action(async (opts: { url?: string; key?: string; limit: number; cursor?: string; all?: boolean; json?: boolean }) => {
      await listBatches(clientFrom(opts, io), opts, io);
      setCode(EXIT.done);
    });

  withConnection(program.command('results').description("a batch's results as CSV or JSON"))
    .argument('<batch>', 'batch id')
    .addOption(new Option('--format <FORMAT>', 'csv or json (default: from --out, else csv)').choices(['csv', 'json']))
    .option('--out <FILE>', 'write here instead of stdout')
    .action(async (batch: string, opts: { url?: string; key?: string; format?: 'csv' | 'json'; out?: string }) => {
      await showResults(clientFrom(opts, io), batch, opts, io);
      setCode(EXIT.done);
    });

  withConnection(program.command('delete').description('delete a batch: its images, results and index'))
    .argument('<batch>', 'batch id')
    .action(async (batch: string, opts: { url?: string; key?: string }) => {
      await deleteBatch(clientFrom(opts, io), batch, io);
      setCode(EXIT.done);
    });
  return program;
}

/** Runs `ics` with these arguments; resolves to the exit code (never exits the process itself). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let code: number = EXIT.done;
  const program = buildProgram(io, (c) => (code = c));
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return EXIT.usage;
    }
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    return reportError(err, io);
  }
}

function reportError(err: unknown, io: CliIo): number {
  const say = (line: string) => io.stderr.write(`ics: ${line}\n`);
  if (err instanceof CommanderError) {
    if (err.exitCode === 0) return EXIT.done; // --help
    // One line; for a bad value, just the rule it broke.
    const message = err.message.replace(/^error: /, '').replace(/^option '[^']*' argument '[^']*' is invalid\. (?=--)/, '').replace(/\s*\n\s*/g, ' ');
    say(`${message} (see --help)`);
    return EXIT.usage;
  }
  if (err instanceof UsageError || err instanceof InvalidArgumentError) {
    say(err.message);
    return EXIT.usage;
  }
  if (io.signal?.aborted) {
    say('interrupted: run the same command again to resume (nothing uploaded is uploaded again)');
    return EXIT_INTERRUPTED;
  }
  if (err instanceof ApiError) {
    say(err.message);
    return EXIT.goalFailed;
  }
  if (isConnectionError(err)) {
    const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
    say(`cannot reach the server: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    return EXIT.goalFailed;
  }
  say(err instanceof Error ? (err.stack ?? err.message) : String(err));
  return EXIT.usage;
}
