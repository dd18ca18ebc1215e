import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EC2Client, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { until } from '@tools/testing/eventually';
import { startEc2StandIn, type Ec2StandIn } from './ec2-standin';
import { instancePath } from './instance-process';
import type { InstanceStateName } from './instances';

const SERVICE = join(__dirname, '../testing/instance-service.js');
const TEMPLATE_ID = 'lt-0000000000000000a';

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Instances start real node processes, which can take seconds each on a loaded machine. */
const PROCESS_START_MS = 25_000;

describe('EC2 stand-in instances: boot, worker process, shutdown', () => {
  let standIn: Ec2StandIn;
  let ec2: EC2Client;
  let logDir: string;

  const start = async (workerEnv: Record<string, string>, o: { shutdownBehavior?: 'terminate' | 'stop'; bootSeconds?: number } = {}) => {
    standIn = await startEc2StandIn({
      bootSeconds: o.bootSeconds ?? 0.3,
      launchTemplates: [{ id: TEMPLATE_ID, versions: [{ shutdownBehavior: o.shutdownBehavior ?? 'terminate', workerEnv: { PATH: process.env['PATH'] ?? '', ...workerEnv } }] }],
      worker: { main: SERVICE, logDir, killGraceMs: 500, restartDelayMs: 100 },
    });
    ec2 = new EC2Client({ region: standIn.region, endpoint: standIn.endpoint, credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
  };
  const launch = async (): Promise<string> => {
    const out = await ec2.send(new RunInstancesCommand({ MinCount: 1, MaxCount: 1, LaunchTemplate: { LaunchTemplateId: TEMPLATE_ID } }));
    return out.Instances?.[0].InstanceId as string;
  };
  const stateOf = (id: string): InstanceStateName | undefined => standIn.instance(id)?.state;
  const logOf = (id: string): string => {
    try {
      return readFileSync(join(logDir, `${id}.log`), 'utf8');
    } catch {
      return '';
    }
  };

  beforeEach(() => {
    logDir = mkdtempSync(join(tmpdir(), 'ec2-standin-logs-'));
  });

  afterEach(async () => {
    jest.useRealTimers();
    ec2?.destroy();
    await standIn?.stop();
    rmSync(logDir, { recursive: true, force: true });
  });

  it('stays pending for the boot delay, then runs the service, which finds its instance id through IMDSv2', async () => {
    // The boot delay passes on a virtual clock, to the millisecond; the service's process and HTTP are real.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'clearImmediate', 'queueMicrotask'] });
    await start({ SERVICE_MODE: 'run' }, { bootSeconds: 0.8 });
    const id = await launch();
    await jest.advanceTimersByTimeAsync(799);
    expect(stateOf(id)).toBe('pending');
    expect(standIn.instance(id)?.pid).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(stateOf(id)).toBe('running');
    expect(standIn.instance(id)?.pid).toBeDefined();
    jest.useRealTimers();
    await until('the service to print its id', () => logOf(id).includes('instance'), PROCESS_START_MS);
    expect(logOf(id)).toContain(`instance ${id} platform ec2`);
    expect(alive(standIn.instance(id)?.pid)).toBe(true);
  });

  it('serves IMDSv2 only with a session token, and only to a running instance', async () => {
    // Boot on a virtual clock, so the look while pending cannot come late on a busy machine.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'clearImmediate', 'queueMicrotask'] });
    await start({ SERVICE_MODE: 'run' });
    const id = await launch();
    const base = standIn.instance(id)?.metadataEndpoint as string;
    expect((await fetch(`${base}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } })).status).toBe(404);
    await jest.advanceTimersByTimeAsync(300);
    expect(stateOf(id)).toBe('running');
    jest.useRealTimers();
    expect((await fetch(`${base}/latest/api/token`, { method: 'PUT' })).status).toBe(400);
    expect((await fetch(`${base}/latest/meta-data/instance-id`)).status).toBe(401);
    const token = await (await fetch(`${base}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } })).text();
    expect((await fetch(`${base}/latest/meta-data/instance-id`, { headers: { 'X-aws-ec2-metadata-token': 'forged' } })).status).toBe(401);
    const res = await fetch(`${base}/latest/meta-data/instance-id`, { headers: { 'X-aws-ec2-metadata-token': token } });
    expect(await res.text()).toBe(id);
    // Another instance's token does not open this one.
    const other = await launch();
    await until('other running', () => stateOf(other) === 'running', PROCESS_START_MS);
    expect((await fetch(`${standIn.instance(other)?.metadataEndpoint}/latest/meta-data/instance-id`, { headers: { 'X-aws-ec2-metadata-token': token } })).status).toBe(401);
  });

  it('a service that exits 0 powers the instance off: shutting-down, then terminated (instance-initiated)', async () => {
    await start({ SERVICE_MODE: 'exit0' });
    const id = await launch();
    await until('terminated', () => stateOf(id) === 'terminated', PROCESS_START_MS);
    expect(standIn.instance(id)?.stateReason).toBe('Client.InstanceInitiatedShutdown');
  });

  it('`shutdown -h now` on the instance reaches the stand-in, never this machine: the instance terminates', async () => {
    await start({ SERVICE_MODE: 'shutdown' });
    const id = await launch();
    await until('terminated', () => stateOf(id) === 'terminated', PROCESS_START_MS);
    expect(standIn.instance(id)?.stateReason).toBe('Client.InstanceInitiatedShutdown');
    // The instance's shutdown stopped its service with SIGTERM, as an OS shutdown does.
    expect(logOf(id)).toContain('SIGTERM: exiting');
  });

  it("an instance's PATH has the shutdown shim first and no sbin, so this machine's shutdown is never found", () => {
    expect(instancePath('/tmp/shim', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin/:/bin::')).toBe('/tmp/shim:/usr/local/bin:/usr/bin:/bin');
  });

  it('with shutdown behaviour stop, a powered-off instance is stopped, not terminated', async () => {
    await start({ SERVICE_MODE: 'exit0' }, { shutdownBehavior: 'stop' });
    const id = await launch();
    await until('stopped', () => stateOf(id) === 'stopped', PROCESS_START_MS);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await until('terminated', () => stateOf(id) === 'terminated', PROCESS_START_MS);
  });

  it('a crashing service restarts (systemd Restart=on-failure) and after five starts powers the instance off', async () => {
    await start({ SERVICE_MODE: 'crash' });
    const id = await launch();
    await until('terminated', () => stateOf(id) === 'terminated', 3 * PROCESS_START_MS); // five process starts in a row
    expect(logOf(id).match(/instance i-/g)).toHaveLength(5);
  }, 90_000);

  it('TerminateInstances stops the service with SIGTERM; one that ignores it is killed after the grace time', async () => {
    await start({ SERVICE_MODE: 'run', IGNORE_SIGTERM: '1' });
    const id = await launch();
    await until('the service to start', () => logOf(id).includes('instance'), PROCESS_START_MS);
    const pid = standIn.instance(id)?.pid;
    const t0 = Date.now();
    const out = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(out.TerminatingInstances?.[0]).toMatchObject({ InstanceId: id, CurrentState: { Code: 32, Name: 'shutting-down' }, PreviousState: { Code: 16, Name: 'running' } });
    expect(stateOf(id)).toBe('shutting-down');
    await until('terminated', () => stateOf(id) === 'terminated', PROCESS_START_MS);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    expect(logOf(id)).toContain('ignoring SIGTERM');
    expect(alive(pid)).toBe(false);
  });

  it('stop() ends every instance service', async () => {
    await start({ SERVICE_MODE: 'run' });
    const ids = [await launch(), await launch()];
    await until('both started', () => ids.every((id) => logOf(id).includes('instance')), PROCESS_START_MS);
    const pids = ids.map((id) => standIn.instance(id)?.pid);
    expect(pids.every(alive)).toBe(true);
    await standIn.stop();
    expect(pids.some(alive)).toBe(false);
  });
});
