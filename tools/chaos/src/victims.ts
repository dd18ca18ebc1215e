import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isProcessAlive, readWorkerRecords } from '@app/fleet';
import type { AppCopy, LocalSystem } from '@tools/local-run';

/** A worker process that can be SIGKILLed: on the EC2 path its instance stays, and the unit restarts it. */
export interface WorkerVictim {
  /** The worker id: `local-N`, or the instance id on the EC2 path. */
  id: string;
  pid: number;
}

/**
 * Live worker processes past their start-up (killing one still loading its
 * model would test nothing): the local fleet's records, or on the EC2 path
 * the stand-in's running instances and the worker process each one runs.
 */
export function liveWorkers(system: Pick<LocalSystem, 'fleetDir' | 'ec2'>): WorkerVictim[] {
  const all = system.ec2
    ? system.ec2.instances().flatMap((i) => (i.state === 'running' && i.pid ? [{ id: i.id, pid: i.pid }] : []))
    : readWorkerRecords(system.fleetDir).map((r) => ({ id: r.id, pid: r.pid }));
  return all.filter((w) => isProcessAlive(w.pid) && pastStartUp(system.fleetDir, w.id));
}

function pastStartUp(fleetDir: string, workerId: string): boolean {
  try {
    return readFileSync(join(fleetDir, `${workerId}.log`), 'utf8').includes('classifier-worker ready');
  } catch {
    return false;
  }
}

/** The launch controller holding the launch lease now, by its own `/api/fleet`; undefined while none says so. */
export async function leaseholder(launchers: AppCopy[], fetchStatus: typeof fetch = fetch): Promise<AppCopy | undefined> {
  for (const c of launchers) {
    try {
      const res = await fetchStatus(`${c.url}/api/fleet`, { signal: AbortSignal.timeout(2000) });
      if (res.ok && ((await res.json()) as { lease?: string }).lease === 'holder') return c;
    } catch {
      // down or restarting: not the holder
    }
  }
  return undefined;
}

export function pickOne<T>(items: readonly T[], random: () => number = Math.random): T | undefined {
  return items.length ? items[Math.floor(random() * items.length)] : undefined;
}

export function sigkill(pid: number): boolean {
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

/** Every running copy of a web tier or monitor controller. */
export function copiesOf(system: Pick<LocalSystem, 'webTiers' | 'monitorControllers' | 'launchControllers'>, app: 'web-tier' | 'monitor-controller' | 'launch-controller'): AppCopy[] {
  if (app === 'web-tier') return system.webTiers;
  return app === 'monitor-controller' ? system.monitorControllers : system.launchControllers;
}
