import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { testChildEnv } from './processes';

export const WORKSPACE_ROOT = resolve(__dirname, '../../..');

/** The built artifact of an app (`nx build <app>` puts it there). */
export function appMain(app: string): string {
  const main = join(WORKSPACE_ROOT, 'dist/apps', app, 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: run "npx nx build ${app}" first`);
  return main;
}

export interface RunningApp {
  process: ChildProcess;
  /** Every line the app printed so far (stdout and stderr). */
  lines: string[];
  /** Resolves with the first line matching, or rejects after timeoutMs. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after graceMs; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

/**
 * Every app this test file spawned that has not exited yet. Registered the
 * moment it is spawned, so that afterAll can stop it even when the set-up that
 * spawned it failed before handing it back (Jest gives each test file its own
 * copy of this module).
 */
const liveApps = new Set<RunningApp & { app: string }>();

/** The apps spawned by this test file that are still running. */
export function runningApps(): readonly (RunningApp & { app: string })[] {
  return [...liveApps];
}

/**
 * Stops every app this test file spawned and has not stopped yet (SIGTERM,
 * SIGKILL after graceMs), all at once; resolves with each one's exit code.
 * Call it in afterAll after the test's own graceful stops.
 */
export async function stopAllApps(graceMs = 10_000): Promise<{ app: string; code: number | null }[]> {
  return Promise.all([...liveApps].map(async (a) => ({ app: a.app, code: await a.stop(graceMs) })));
}

/**
 * Starts a built app as a real process with exactly the given extra environment
 * (and Node options that NODE_OPTIONS does not take, such as --cpu-prof), on this
 * process's Node or on the `node` binary given.
 */
export function spawnApp(app: string, env: Record<string, string>, execArgv: string[] = [], node = process.execPath): RunningApp {
  const child = spawn(node, [...execArgv, appMain(app)], {
    cwd: WORKSPACE_ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...testChildEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (l: string) => void }[] = [];
  const onData = (buf: Buffer) => {
    for (const line of buf.toString('utf8').split('\n')) {
      if (!line) continue;
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.pattern.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const running: RunningApp & { app: string } = {
    app,
    process: child,
    lines,
    exited,
    waitForLine(pattern, timeoutMs = 30_000) {
      const seen = lines.find((l) => pattern.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((res, rej) => {
        const timer = setTimeout(
          () => rej(new Error(`${app}: no line matching ${pattern} within ${timeoutMs} ms; output:\n${lines.slice(-30).join('\n')}`)),
          timeoutMs,
        );
        const done = (l: string) => {
          clearTimeout(timer);
          res(l);
        };
        waiters.push({ pattern, resolve: done });
        void exited.then(() => {
          clearTimeout(timer);
          rej(new Error(`${app} exited before printing ${pattern}; output:\n${lines.slice(-30).join('\n')}`));
        });
      });
    },
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  liveApps.add(running);
  void exited.then(() => liveApps.delete(running));
  return running;
}
