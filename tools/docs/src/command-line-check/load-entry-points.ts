/**
 * Loads each entry point given on the command line twice in this one process, once with
 * `--help` and once with an unknown flag, and prints what each did as one JSON line: its exit
 * code, stdout and stderr. process.exit is replaced by a throw, so nothing runs past parsing;
 * the modules an entry point imports are loaded once for all of them, which keeps the check to
 * one process instead of two per tool.
 */
import { writeSync } from 'node:fs';
import { resolve } from 'node:path';

class Exited {
  constructor(readonly code: number) {}
}

export interface EntryPointRun {
  file: string;
  args: string[];
  /** undefined: the module loaded without exiting (it did not parse its arguments at load). */
  code?: number;
  stdout: string;
  stderr: string;
  /** What it threw, when it threw something other than an exit. */
  error?: string;
}

/** An entry point that parses in a promise (a multi-command client) gets this long to exit. */
const ASYNC_EXIT_MS = 10_000;

async function load(file: string, args: string[]): Promise<EntryPointRun> {
  const run: EntryPointRun = { file, args, stdout: '', stderr: '' };
  const saved = { argv: process.argv, exit: process.exit, out: process.stdout.write, err: process.stderr.write };
  let exited: (code: number) => void = () => undefined;
  const exit = new Promise<number>((resolveExit) => (exited = resolveExit));
  process.argv = [process.execPath, file, ...args];
  process.exit = ((code?: number) => {
    run.code ??= code ?? 0;
    exited(run.code);
    throw new Exited(run.code);
  }) as typeof process.exit;
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    run.stdout += String(chunk);
    const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    done?.();
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((run.stderr += String(chunk)), true)) as typeof process.stderr.write;
  const path = require.resolve(resolve(file));
  try {
    require(path);
    // Not exited while loading: it may parse in a promise; wait for its exit a little.
    if (run.code === undefined) await Promise.race([exit, new Promise((r) => setTimeout(r, ASYNC_EXIT_MS))]);
  } catch (err) {
    if (!(err instanceof Exited)) run.error = err instanceof Error ? err.message : String(err);
  } finally {
    Object.assign(process, { argv: saved.argv, exit: saved.exit });
    process.stdout.write = saved.out;
    process.stderr.write = saved.err;
    delete require.cache[path];
  }
  return run;
}

// An exit inside a promise rejects it with Exited: expected here, not a failure.
process.on('unhandledRejection', (reason) => {
  if (!(reason instanceof Exited)) throw reason;
});

async function main(): Promise<void> {
  for (const file of process.argv.slice(2)) {
    for (const args of [['--help'], ['--no-such-flag', '1']]) writeSync(1, `${JSON.stringify(await load(file, args))}\n`);
  }
  // Whatever an entry point scheduled before it exited must not run: end here.
  process.exit(0);
}

void main();
