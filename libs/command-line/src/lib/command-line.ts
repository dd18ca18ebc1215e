/**
 * The command line of every tool and app, one way: `--help` lists the flags, an unknown
 * flag or a bad value is one line on stderr and exit 2, numbers are checked before any
 * work starts, and every program ends with the same exit codes. Built on commander so
 * that help, "did you mean", `--flag=value` and choices behave as users expect.
 *
 * Values come back keyed by flag name as strings (or booleans), like node:util's
 * parseArgs, so a tool's own code reads them unchanged; a number flag is a string that
 * is known to parse.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';

/** Exit codes shared by every tool and app. */
export const EXIT = {
  /** The run did what it was asked. */
  done: 0,
  /** The run ended but its goal failed (an image lost, a request failed, a check did not pass). */
  goalFailed: 1,
  /** Bad usage (unknown flag, bad value, bad configuration) or a crash. */
  usage: 2,
} as const;

/** Bad usage found after parsing (two flags that do not go together, a missing file): one line, exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface NumberRule {
  integer?: boolean;
  min?: number;
  max?: number;
}

export interface FlagSpec {
  type: 'string' | 'boolean';
  description: string;
  /** Shown in the help as the value's name, e.g. `DIR`, `OUT`, `N` (default VALUE, or N for numbers). */
  value?: string;
  default?: string | boolean;
  /** The value must be a number obeying these bounds. */
  number?: NumberRule;
  /** The value must be one of these. */
  choices?: readonly string[];
  /** The run cannot go without it. */
  required?: boolean;
}

export interface CliSpec<F extends Record<string, FlagSpec>> {
  /** How a user runs it, e.g. `npm run loadgen --`. */
  name: string;
  summary: string;
  flags: F;
  /** Text after the flags (examples, environment variables, what exit 1 means). */
  epilog?: string;
}

export type CliValues<F extends Record<string, FlagSpec>> = {
  [K in keyof F]: F[K]['type'] extends 'boolean'
    ? boolean
    : F[K]['default'] extends string
      ? string
      : F[K]['required'] extends true
        ? string
        : string | undefined;
};

/** What parsing decided: go on with the values, or stop with this code and output. */
export type ParseOutcome<F extends Record<string, FlagSpec>> =
  | { kind: 'run'; values: CliValues<F> }
  | { kind: 'exit'; code: number; stdout: string; stderr: string };

export function checkNumber(flag: string, text: string, rule: NumberRule): string {
  const n = Number(text);
  const what = rule.integer ? 'an integer' : 'a number';
  const bounds = [rule.min !== undefined ? `>= ${rule.min}` : '', rule.max !== undefined ? `<= ${rule.max}` : ''].filter(Boolean).join(' and ');
  const ok = text.trim() !== '' && Number.isFinite(n) && (!rule.integer || Number.isInteger(n)) && n >= (rule.min ?? -Infinity) && n <= (rule.max ?? Infinity);
  if (!ok) throw new InvalidArgumentError(`--${flag} must be ${what}${bounds ? ` ${bounds}` : ''} (got ${text})`);
  return text;
}

const camel = (flag: string) => flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function buildCommand(spec: CliSpec<Record<string, FlagSpec>>, out: { stdout: string; stderr: string }): Command {
  const cmd = new Command(spec.name)
    .description(spec.summary)
    .allowExcessArguments(false)
    .helpOption('-h, --help', 'show this help and exit')
    .exitOverride()
    .configureOutput({ writeOut: (s) => (out.stdout += s), writeErr: (s) => (out.stderr += s), outputError: () => undefined });
  for (const [flag, f] of Object.entries(spec.flags)) {
    if (f.type === 'boolean') {
      cmd.addOption(new Option(`--${flag}`, f.description));
      continue;
    }
    const option = new Option(`--${flag} <${f.value ?? (f.number ? 'N' : 'VALUE')}>`, f.required ? `${f.description} (required)` : f.description);
    if (f.default !== undefined) option.default(f.default);
    if (f.choices) option.choices(f.choices);
    if (f.number) {
      const rule = f.number;
      option.argParser((text: string) => checkNumber(flag, text, rule));
    }
    cmd.addOption(option);
  }
  const exits = `Exit codes: ${EXIT.done} done, ${EXIT.goalFailed} the run's goal failed, ${EXIT.usage} usage or crash.`;
  cmd.addHelpText('after', `\n${spec.epilog ? `${spec.epilog.trimEnd()}\n\n` : ''}${exits}`);
  return cmd;
}

/** Parses without side effects: tests and callers that must not exit use this. */
export function tryParseCommandLine<const F extends Record<string, FlagSpec>>(spec: CliSpec<F>, argv: readonly string[]): ParseOutcome<F> {
  const out = { stdout: '', stderr: '' };
  const cmd = buildCommand(spec, out);
  try {
    cmd.parse([...argv], { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    if (err.exitCode === 0) return { kind: 'exit', code: EXIT.done, stdout: out.stdout, stderr: '' };
    // One line: commander's "error: " prefix off, its "(Did you mean --x?)" kept on the same line.
    // A number check's own message names the flag already: commander's preamble would say it twice.
    const message = err.message
      .replace(/^error: /, '')
      .replace(/^option '[^']*' argument '[^']*' is invalid\. (?=--)/, '')
      .replace(/\s*\n\s*/g, ' ');
    return { kind: 'exit', code: EXIT.usage, stdout: '', stderr: `${spec.name}: ${message} (see --help)\n` };
  }
  const opts = cmd.opts<Record<string, unknown>>();
  // Checked here rather than by commander, which would report a missing flag before an unknown one.
  const missing = Object.entries(spec.flags).find(([flag, f]) => f.required && opts[camel(flag)] === undefined);
  if (missing) return { kind: 'exit', code: EXIT.usage, stdout: '', stderr: `${spec.name}: --${missing[0]} is required (see --help)\n` };
  const values: Record<string, unknown> = {};
  for (const [flag, f] of Object.entries(spec.flags)) {
    const value = opts[camel(flag)];
    // A flag named --no-x is commander's negation of x: true when given.
    if (f.type === 'boolean') values[flag] = flag.startsWith('no-') ? opts[camel(flag.slice(3))] === false : value === true;
    else values[flag] = value;
  }
  return { kind: 'run', values: values as CliValues<F> };
}

/** For a main: the values, or (for --help or bad usage) print and exit 0 or 2 here. */
export function parseCommandLine<const F extends Record<string, FlagSpec>>(spec: CliSpec<F>, argv: readonly string[] = process.argv.slice(2)): CliValues<F> {
  const outcome = tryParseCommandLine(spec, argv);
  if (outcome.kind === 'run') return outcome.values;
  process.stdout.write(outcome.stdout);
  process.stderr.write(outcome.stderr);
  process.exit(outcome.code);
}

/** A number flag's value (already checked by the parser), or undefined when not given. */
export function numberOf(value: string | undefined): number | undefined {
  return value === undefined ? undefined : Number(value);
}

/**
 * Runs a main: a number it resolves to is the exit code (exit now: the run is over); resolving
 * to nothing keeps the process running (a server). A UsageError is one line and exit 2; any
 * other error is a crash: its stack, and exit 2.
 */
export function runMain(name: string, main: () => Promise<number | void>): void {
  main().then(
    (code) => {
      if (typeof code === 'number') process.exit(code);
    },
    (err: unknown) => {
      if (err instanceof UsageError) console.error(`${name}: ${err.message}`);
      else console.error(`${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exit(EXIT.usage);
    },
  );
}

/** `--json OUT`: the figures a tool printed, as JSON in OUT (folders made); nothing without a path. */
export function writeJsonOutput(path: string | undefined, value: unknown): void {
  if (!path) return;
  const out = resolve(path);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(value, null, 2) + '\n');
  console.error(`wrote ${out}`);
}

/** A path flag's value when it exists; else a UsageError naming the flag (the default data sets are not in a fresh clone). */
export function existingPath(flag: string, path: string): string {
  if (!existsSync(path)) throw new UsageError(`--${flag}: ${path} does not exist`);
  return path;
}
