import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppCopy, LocalSystem, SupervisedApp } from '@tools/local-run';
import { leaseholder, liveWorkers, pickOne } from './victims';

const launcher = (n: number): AppCopy => ({ n, url: `http://launcher-${n}`, app: { label: `launch-controller-${n}` } as SupervisedApp });

/** Each launcher's /api/fleet as the test says: a lease state, or down. */
function fleetStatuses(states: Record<string, 'holder' | 'standby' | 'down'>): typeof fetch {
  return (async (input: string | URL | Request) => {
    const host = new URL(String(input)).host;
    if (states[host] === 'down') throw new TypeError('fetch failed');
    return new Response(JSON.stringify({ lease: states[host] }), { status: 200 });
  }) as typeof fetch;
}

describe('the launch leaseholder', () => {
  it('is the launcher whose fleet status says it holds the lease, whatever its place', async () => {
    const all = [launcher(1), launcher(2)];
    expect((await leaseholder(all, fleetStatuses({ 'launcher-1': 'standby', 'launcher-2': 'holder' })))?.n).toBe(2);
    expect((await leaseholder(all, fleetStatuses({ 'launcher-1': 'holder', 'launcher-2': 'standby' })))?.n).toBe(1);
  });

  it('is nobody while no launcher says so (one down, the other standby, between a kill and the take-over)', async () => {
    expect(await leaseholder([launcher(1), launcher(2)], fleetStatuses({ 'launcher-1': 'down', 'launcher-2': 'standby' }))).toBeUndefined();
  });
});

describe('worker victims', () => {
  const fleetDir = mkdtempSync(join(tmpdir(), 'victims-'));
  writeFileSync(join(fleetDir, 'i-ready.log'), '{"msg":"classifier-worker ready"}\n');
  writeFileSync(join(fleetDir, 'i-loading.log'), '{"msg":"loading the model"}\n');
  const instance = (id: string, state: string, pid?: number) => ({ id, state, pid });

  it('on the EC2 path are the worker processes of running instances past their start-up', () => {
    const ec2 = {
      instances: () => [instance('i-ready', 'running', process.pid), instance('i-loading', 'running', process.pid), instance('i-pending', 'pending'), instance('i-gone', 'terminated', process.pid)],
    } as unknown as LocalSystem['ec2'];
    expect(liveWorkers({ fleetDir, ec2 })).toEqual([{ id: 'i-ready', pid: process.pid }]);
  });

  it('pickOne takes any one, and none from nothing', () => {
    expect(pickOne(['a', 'b', 'c'], () => 0.99)).toBe('c');
    expect(pickOne([], () => 0)).toBeUndefined();
  });
});
