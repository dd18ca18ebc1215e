import type { LocalSystem } from './system';

/** How many copies `npm start` runs: WEB_TIERS web tiers, CONTROL_PLANES launch and monitor controllers. */
export interface Topology {
  webTiers: number;
  controlPlanes: number;
}

/** Most copies of one app on one machine: each is a Node process of its own. */
export const MAX_COPIES = 8;

/**
 * WEB_TIERS and CONTROL_PLANES from the environment (default 1 each); throws
 * with a one-line message naming the variable when a value is not a whole
 * number from 1 to MAX_COPIES.
 */
export function topologyOf(env: Record<string, string | undefined>): Topology {
  const count = (name: string): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return 1;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > MAX_COPIES) throw new Error(`${name} must be a whole number from 1 to ${MAX_COPIES} (got ${raw})`);
    return n;
  };
  return { webTiers: count('WEB_TIERS'), controlPlanes: count('CONTROL_PLANES') };
}

/** The addresses block npm start prints once the system is up (one web tier, one control plane: as it always was). */
export function serviceLines(
  system: Pick<LocalSystem, 'webUrl' | 'webTiers' | 'launchControllers' | 'logDir' | 'fleetDir'> & { aws: { endpoint: string }; ec2?: { endpoint: string } },
): string[] {
  const line = (name: string, value: string) => `  ${name.padEnd(15)} ${value}`;
  const several = system.webTiers.length > 1 || system.launchControllers.length > 1;
  return [
    line('Upload page', `${system.webUrl}/`),
    ...(system.webTiers.length > 1 ? system.webTiers.map((t) => line(`Web tier ${t.n}`, t.url)) : []),
    line('Swagger UI', `${system.webUrl}/docs`),
    line('Fleet status', `${system.launchControllers[0].url}/api/fleet`),
    ...system.launchControllers.slice(1).map((c) => line(`Launcher ${c.n}`, `${c.url}/api/fleet`)),
    line('Local S3/SQS', system.aws.endpoint),
    ...(system.ec2 ? [line('EC2 stand-in', system.ec2.endpoint)] : []),
    line('Logs', `${system.logDir}/<app>.log${several ? ' (<app>-N.log for copy N)' : ''}, workers in ${system.fleetDir}/${system.ec2 ? 'i-<id>' : 'local-N'}.log`),
  ];
}
