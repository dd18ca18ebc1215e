import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsCommand } from '@aws-sdk/client-s3';
import type { Ec2StandIn } from '@tools/ec2-standin';
import { runLoad } from '@tools/loadgen';
import { DATASET_DIR, MODEL_DIR } from '@tools/testing';
import { resourcesOf, until } from './e2e-helpers';
import { startLocalSystem, type LocalSystem } from './system';
import { processesWithEnv } from './worker-census';

const MAX_WORKERS = 2;
const IDLE_SECONDS = 3;
const IMAGENET_LABELS = new Set(JSON.parse(readFileSync(join(DATASET_DIR, 'imagenet-labels.json'), 'utf8')) as string[]);

/** Samples the stand-in's instances (its ground truth) and the instances' worker processes (/proc). */
class InstanceCensus {
  readonly samples: { t: number; alive: number; running: number; processes: number }[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly standIn: Ec2StandIn,
    private readonly runId: string,
  ) {}

  start(): this {
    const t0 = Date.now();
    this.timer = setInterval(() => {
      const instances = this.standIn.instances();
      this.samples.push({
        t: Date.now() - t0,
        alive: instances.filter((i) => i.state !== 'terminated').length,
        running: instances.filter((i) => i.state === 'running').length,
        processes: instanceWorkerPids(this.runId).length,
      });
    }, 100);
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  peak(key: 'alive' | 'running' | 'processes'): number {
    return Math.max(0, ...this.samples.map((s) => s[key]));
  }
}

/** Worker processes of this run on stand-in instances (they alone have a metadata endpoint). */
function instanceWorkerPids(runId: string): number[] {
  return processesWithEnv(`ICS_RUN_ID=${runId}`, 'AWS_EC2_METADATA_SERVICE_ENDPOINT=');
}

describe('LOCAL_FLEET=ec2: the whole system on the EC2 provider against the EC2 stand-in', () => {
  let runDir: string;
  let system: LocalSystem;
  let standIn: Ec2StandIn;

  beforeAll(async () => {
    runDir = mkdtempSync(join(tmpdir(), 'ec2-fleet-e2e-'));
    system = await startLocalSystem({
      webPort: 0,
      awsPort: 0,
      runDir,
      fleet: 'ec2',
      ec2BootSeconds: 1,
      env: { MODEL_DIR, MAX_WORKERS: String(MAX_WORKERS), IDLE_SECONDS: String(IDLE_SECONDS), LOG_LEVEL: 'info' },
    });
    standIn = system.ec2 as Ec2StandIn;
  }, 90_000);

  let passed = false;
  afterAll(async () => {
    const runId = system?.runId;
    await system?.stop();
    if (runId) expect(instanceWorkerPids(runId)).toEqual([]);
    // A failed run keeps its logs (controllers, stand-in, one per instance) for a look.
    if (passed) rmSync(runDir, { recursive: true, force: true });
    else console.log(`ec2 fleet e2e: logs kept in ${runDir}`);
  }, 60_000);

  it('classifies the classic 100 from zero instances, never more than MAX_WORKERS, and returns to zero', async () => {
    expect(standIn.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(standIn.instances()).toEqual([]);
    const census = new InstanceCensus(standIn, system.runId).start();
    const run = await runLoad({
      url: system.webUrl,
      imagesDir: join(DATASET_DIR, 'imagenet-100/images'),
      expectedFile: join(DATASET_DIR, 'imagenet-100/expected-labels.json'),
      concurrency: 100,
      mode: 'classic',
      scaleInTimeoutMs: 0,
      progress: false,
    });
    expect(run.report).toMatchObject({ requests: 100, succeeded: 100, failed: 0 });
    expect(new Set(run.results.map((r) => r.name)).size).toBe(100);
    for (const r of run.results) expect(IMAGENET_LABELS.has(r.label ?? '')).toBe(true);

    // Scale-in: each worker ends its own instance after IDLE_SECONDS without work.
    await until(() => standIn.instances().every((i) => i.state === 'terminated'), (IDLE_SECONDS + 30) * 1000, 'every instance terminated');
    await until(() => instanceWorkerPids(system.runId).length === 0, 15_000, 'no instance worker process left');
    census.stop();

    expect(census.peak('running')).toBeGreaterThanOrEqual(1);
    expect(census.peak('alive')).toBeLessThanOrEqual(MAX_WORKERS);
    expect(census.peak('processes')).toBeLessThanOrEqual(MAX_WORKERS);
    const instances = standIn.instances();
    // The workers terminated their own instances through the EC2 API (TerminateInstances on self).
    for (const i of instances) expect(i.stateReason).toBe('Client.UserInitiatedShutdown');

    // Every EC2 call went over HTTP through the real SDK to the stand-in: launches, listings, the
    // workers' state tags and their own terminations.
    const actions = new Set(standIn.calls.map((c) => c.action));
    expect([...actions].sort()).toEqual(['CreateTags', 'DescribeInstances', 'RunInstances', 'TerminateInstances']);
    expect(standIn.calls.filter((c) => c.error)).toEqual([]);

    // The results name the instances that produced them: the workers found their ids through IMDSv2.
    const { clients } = resourcesOf(system);
    const listed = await clients.s3.send(new ListObjectsCommand({ Bucket: system.aws.buckets.output }));
    const keys = (listed.Contents ?? []).map((o) => o.Key as string).filter((k) => /^[^/]+\.json$/.test(k));
    expect(keys.length).toBeGreaterThanOrEqual(100);
    const producers = new Set<string>();
    for (const key of keys.slice(0, 20)) {
      const body = await (await clients.s3.send(new GetObjectCommand({ Bucket: system.aws.buckets.output, Key: key }))).Body?.transformToString();
      producers.add((JSON.parse(body ?? '{}') as { producedBy?: string }).producedBy ?? '');
    }
    const ids = new Set(instances.map((i) => i.id));
    for (const p of producers) expect(ids.has(p)).toBe(true);
    passed = true;
  }, 300_000);
});
