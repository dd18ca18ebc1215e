import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Every line of output is appended here as well (a build's log). */
  logFile?: string;
  /** Text written to the command's stdin. */
  input?: string;
  /** Aborting it sends the command SIGTERM (the run still settles when the command has ended). */
  signal?: AbortSignal;
  /** Prefix each line written to the log with the seconds since the command started (which build step took how long). */
  stampLog?: boolean;
}

/** Turns chunks of output into whole lines, each prefixed with the seconds elapsed since `started`. */
export function lineStamper(started: number, now: () => number = Date.now): { push(text: string): string; end(): string } {
  let partial = '';
  const stamp = (line: string) => `[${((now() - started) / 1000).toFixed(0).padStart(5)} s] ${line}\n`;
  return {
    push(text) {
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      return lines.map(stamp).join('');
    },
    end: () => (partial ? stamp(partial) : ''),
  };
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly code: number | null,
    readonly output: string,
  ) {
    super(`${command} failed (${code === null ? 'killed' : `exit ${code}`})\n${tail(output, 25)}`);
  }
}

/** The last `lines` lines: enough of a failed command's output to see why, not the whole build. */
export function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** Runs a command to its end; resolves with its stdout, rejects with a CommandError holding its output. */
export function run(command: string, args: string[], o: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: o.cwd, env: o.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let all = '';
    const stamper = o.stampLog ? lineStamper(Date.now()) : undefined;
    const terminate = () => child.kill('SIGTERM');
    if (o.signal?.aborted) terminate();
    o.signal?.addEventListener('abort', terminate, { once: true });
    const take = (chunk: Buffer, isStdout: boolean) => {
      const text = chunk.toString('utf8');
      if (isStdout) stdout += text;
      all += text;
      if (all.length > 4_000_000) all = all.slice(-2_000_000);
      if (o.logFile) appendFileSync(o.logFile, stamper ? stamper.push(text) : text);
    };
    child.stdout.on('data', (c: Buffer) => take(c, true));
    child.stderr.on('data', (c: Buffer) => take(c, false));
    child.once('error', (err) => reject(new CommandError(`${command} ${args.join(' ')}`, null, err.message)));
    child.once('close', (code) => {
      o.signal?.removeEventListener('abort', terminate);
      if (o.logFile && stamper) appendFileSync(o.logFile, stamper.end());
      if (code === 0) resolve(stdout);
      else reject(new CommandError(`${command} ${args.join(' ')}`, code, all));
    });
    child.stdin.end(o.input ?? '');
  });
}

/** Whether a program is on PATH (`command -v`), without running it. */
export function onPath(program: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' }).status === 0;
}
