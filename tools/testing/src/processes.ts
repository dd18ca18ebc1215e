import { readdirSync, readFileSync } from 'node:fs';

/**
 * Live processes (Linux /proc) whose environment holds `entry` exactly (and a
 * variable starting with `alsoPrefix`, if given), e.g. a marker variable a test
 * gave everything it started: the ground truth of what is still running,
 * whatever the test's (or the controllers') own bookkeeping believes.
 */
export function processesWithEnv(entry: string, alsoPrefix?: string): number[] {
  const pids: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const vars = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      if (!vars.includes(entry) || (alsoPrefix !== undefined && !vars.some((v) => v.startsWith(alsoPrefix)))) continue;
      // A zombie (exited, not yet reaped) is not running.
      if (!readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z')) pids.push(Number(pid));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

/** A process's resident memory now and at its peak, bytes (Linux /proc); undefined once it is gone. */
export function residentMemory(pid: number): { rssBytes: number; peakBytes: number } | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const bytes = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  const rssBytes = bytes('VmRSS');
  // A zombie has no memory fields left.
  return Number.isNaN(rssBytes) ? undefined : { rssBytes, peakBytes: bytes('VmHWM') };
}

/** Set by the Jest global set-up for the whole run; test helpers put it on what they start as ICS_TEST_CHILD. */
export const TEST_RUN_VARIABLE = 'ICS_TEST_RUN';
export const TEST_CHILD_VARIABLE = 'ICS_TEST_CHILD';

/**
 * The variable every process a test helper starts carries (and passes on to
 * its own children), so that the global teardown can find any a test failed
 * to stop. Empty outside a Jest run that has the global set-up.
 */
export function testChildEnv(): Record<string, string> {
  const run = process.env[TEST_RUN_VARIABLE];
  return run ? { [TEST_CHILD_VARIABLE]: run } : {};
}
