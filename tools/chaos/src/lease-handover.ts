import { setTimeout as sleep } from 'node:timers/promises';
import type { AppCopy, LocalSystem } from '@tools/local-run';
import { leaseholder } from './victims';

export interface LeaseKill {
  /** Resolves once a controller holds the lease again (or the watch gave up). */
  report(): Promise<{ killed: string; handoverSeconds: number | null; newHolder: string | null; firstLaunchAfterKillSeconds: number | null }>;
}

/**
 * After the launch leaseholder was SIGKILLed: how soon a controller (a
 * standby, or the killed one restarted) says it holds the lease, and on the
 * EC2 path how soon after the kill the next instance was launched (watched
 * until `giveUpMs`: an S3 brownout holds every controller off the lease).
 */
export function watchHandover(system: Pick<LocalSystem, 'launchControllers' | 'ec2'>, killed: AppCopy, log: (line: string) => void, giveUpMs = 120_000): LeaseKill {
  const killedAt = Date.now();
  const handover = (async () => {
    while (Date.now() - killedAt < giveUpMs) {
      const holder = await leaseholder(system.launchControllers);
      if (holder) {
        const seconds = Math.round((Date.now() - killedAt) / 100) / 10;
        log(`lease: ${holder.app.label} holds it ${seconds} s after the kill`);
        return { seconds, holder: holder.app.label };
      }
      await sleep(200);
    }
    return { seconds: null, holder: null };
  })();
  return {
    async report() {
      const h = await handover;
      const launch = system.ec2?.calls.find((c) => c.action === 'RunInstances' && !c.error && c.at >= killedAt);
      return {
        killed: killed.app.label,
        handoverSeconds: h.seconds,
        newHolder: h.holder,
        firstLaunchAfterKillSeconds: launch ? Math.round((launch.at - killedAt) / 100) / 10 : null,
      };
    },
  };
}
