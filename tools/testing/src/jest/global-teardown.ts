import { readFileSync } from 'node:fs';
import { processesWithEnv, TEST_CHILD_VARIABLE, TEST_RUN_VARIABLE } from '../processes';

/**
 * The safety net behind every test's own clean-up: a process a test helper
 * started and no test stopped is killed here, and named, so that a leak is
 * seen as a failure message rather than as a run that never ends.
 */
export default async function globalTeardown(): Promise<void> {
  const run = process.env[TEST_RUN_VARIABLE];
  if (!run) return;
  const entry = `${TEST_CHILD_VARIABLE}=${run}`;
  const left = processesWithEnv(entry).filter((pid) => pid !== process.pid);
  if (left.length === 0) return;
  const names = left.map((pid) => `${pid} ${commandOf(pid)}`);
  for (const pid of left) kill(pid, 'SIGTERM');
  await new Promise((r) => setTimeout(r, 3000));
  for (const pid of processesWithEnv(entry)) kill(pid, 'SIGKILL');
  // Killed, so the run ends; and a failure, so the leak gets fixed.
  throw new Error(`a test left ${left.length} process(es) running; the global teardown killed them:\n  ${names.join('\n  ')}`);
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').slice(0, 200);
  } catch {
    return '(gone)';
  }
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
