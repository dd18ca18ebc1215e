import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EC2Client } from '@aws-sdk/client-ec2';
import { Ec2Fleet } from '@app/fleet';
import { describeAllInstances, startEc2StandIn } from '@tools/ec2-standin';
import { LOCAL_CREDENTIALS, startLocalAws } from '@tools/local-aws';
import { runLoad } from '@tools/loadgen';
import { MODEL_DIR, SMALL_IMAGES_DIR, smallImage, smallImageNames, WORKSPACE_ROOT } from '@tools/testing/files';
import { until } from '@tools/testing/eventually';
import { processesWithEnv } from '@tools/testing/processes';
import { writeModelAnswerKey } from './answer-key';
import { killAllNpmStarts, spawnLocalRunFromSource, waitForNpmStart } from './e2e-helpers';

const MAX_WORKERS = 2;
const IDLE_SECONDS = 3;

describe('LOCAL_FLEET=ec2 npm start: the whole system on the EC2 provider against the EC2 stand-in', () => {
  // Whatever a test did or failed to do, no npm start outlives it.
  afterEach(() => killAllNpmStarts());

  it('classifies the classic 100 from zero instances, never more than MAX_WORKERS, back to zero, and Ctrl-C leaves nothing', async () => {
    const runDir = mkdtempSync(join(tmpdir(), 'ec2-fleet-e2e-'));
    // Passed through to every app and, by the launch template, to every instance's worker.
    const marker = `ICS_E2E_RUN=${randomUUID()}`;
    const run = spawnLocalRunFromSource({
      LOCAL_FLEET: 'ec2',
      EC2_BOOT_SECONDS: '1',
      MODEL_DIR,
      PORT: '0',
      LOCAL_RUN_DIR: runDir,
      MAX_WORKERS: String(MAX_WORKERS),
      IDLE_SECONDS: String(IDLE_SECONDS),
      [marker.split('=')[0]]: marker.split('=')[1],
    });
    const workerPids = () => processesWithEnv(marker, 'AWS_EC2_METADATA_SERVICE_ENDPOINT=');
    let ec2: EC2Client | undefined;
    let passed = false;
    try {
      const webUrl = await waitForNpmStart(run, 120_000);
      const endpoint = /^ {2}EC2 stand-in {4}(http:\/\/127\.0\.0\.1:\d+)$/m.exec(run.output())?.[1];
      expect(endpoint).toBeDefined();

      // Any EC2 client can watch: here the real SDK with made-up credentials, as the AWS CLI would.
      ec2 = new EC2Client({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'watcher', secretAccessKey: 'watcher' } });
      expect(await describeAllInstances(ec2)).toEqual([]);
      const samples: { alive: number; running: number; processes: number }[] = [];
      let sampling = true;
      const watcher = (async () => {
        while (sampling) {
          const instances = await describeAllInstances(ec2 as EC2Client);
          samples.push({
            alive: instances.filter((i) => i.State?.Name !== 'terminated').length,
            running: instances.filter((i) => i.State?.Name === 'running').length,
            processes: workerPids().length,
          });
          // fixed wait: the sampling period of a watcher that records the fleet over time, not a wait for an event
          await new Promise((r) => setTimeout(r, 150));
        }
      })();

      // The model's own answer for each image, computed in this process: the fleet must give each image exactly that.
      const answerKey = await writeModelAnswerKey(SMALL_IMAGES_DIR, smallImageNames(), join(mkdtempSync(join(tmpdir(), 'answer-key-')), 'answer-key.json'));
      const load = await runLoad({
        url: webUrl,
        imagesDir: SMALL_IMAGES_DIR,
        expectedFile: answerKey,
        concurrency: 100,
        mode: 'classic',
        scaleInTimeoutMs: 0,
        progress: false,
      });
      expect(load.report).toMatchObject({ requests: 100, succeeded: 100, failed: 0 });
      expect(new Set(load.results.map((r) => r.name)).size).toBe(100);
      expect(load.report.agreement).toMatchObject({ compared: 100, agreed: 100 });

      // Scale-in: each worker terminates its own instance after IDLE_SECONDS without work.
      await until('every instance terminated', async () => (await describeAllInstances(ec2 as EC2Client)).every((i) => i.State?.Name === 'terminated'), 60_000, 250);
      await until('no instance worker process left', () => workerPids().length === 0, 15_000, 100);
      sampling = false;
      await watcher;

      const peak = (k: 'alive' | 'running' | 'processes') => Math.max(...samples.map((s) => s[k]));
      expect(peak('running')).toBeGreaterThanOrEqual(1);
      expect(peak('alive')).toBeLessThanOrEqual(MAX_WORKERS);
      expect(peak('processes')).toBeLessThanOrEqual(MAX_WORKERS);

      const instances = await describeAllInstances(ec2);
      expect(instances.length).toBeGreaterThanOrEqual(1);
      for (const i of instances) {
        const tags = Object.fromEntries((i.Tags ?? []).map((t) => [t.Key, t.Value]));
        // Launched by Ec2Fleet from the launch template, tagged by its worker (CreateTags), and ended
        // by the worker itself: it exits 0 and the instance powers off (an instance-initiated shutdown).
        expect(tags).toMatchObject({ 'ics:stack': 'ics', 'ics:role': 'classifier-worker', 'aws:ec2launchtemplate:id': expect.stringMatching(/^lt-/) });
        expect(tags['ics:worker-state']).not.toBe('starting');
        expect(i.StateReason?.Code).toBe('Client.InstanceInitiatedShutdown');
        // The worker found this instance id through IMDSv2, and ended that instance.
        const log = readFileSync(join(runDir, 'fleet', `${i.InstanceId}.log`), 'utf8');
        expect(log).toContain(`"instanceId":"${i.InstanceId}"`);
        expect(log).toContain('exiting: the instance powers off, which terminates it');
      }
      expect(readdirSync(join(runDir, 'fleet')).filter((f) => /^i-.*\.log$/.test(f))).toHaveLength(instances.length);
      passed = true;
    } finally {
      ec2?.destroy();
      run.child.kill('SIGINT');
      await run.exited;
      if (passed) rmSync(runDir, { recursive: true, force: true });
      else console.log(`LOCAL_FLEET=ec2 e2e: logs kept in ${runDir}\n${run.output()}`);
    }
    expect(run.output()).toContain('Stopped.');
    expect(processesWithEnv(marker)).toEqual([]);
  }, 300_000);

  it('Ctrl-C while instances run stops every instance worker too', async () => {
    const runDir = mkdtempSync(join(tmpdir(), 'ec2-fleet-e2e-'));
    const marker = `ICS_E2E_RUN=${randomUUID()}`;
    const run = spawnLocalRunFromSource({
      LOCAL_FLEET: 'ec2',
      EC2_BOOT_SECONDS: '0',
      MODEL_DIR,
      PORT: '0',
      LOCAL_RUN_DIR: runDir,
      MAX_WORKERS: '1',
      IDLE_SECONDS: '600',
      [marker.split('=')[0]]: marker.split('=')[1],
    });
    try {
      const webUrl = await waitForNpmStart(run, 120_000);
      const form = new FormData();
      form.append('myfile', new Blob([new Uint8Array(smallImage(3).bytes)]), 'test_3.JPEG');
      const res = await fetch(`${webUrl}/`, { method: 'POST', body: form });
      expect(await res.text()).toMatch(/^test_3:.+/);
      // The worker idles for 10 minutes: only Ctrl-C can end it now.
      expect(processesWithEnv(marker, 'AWS_EC2_METADATA_SERVICE_ENDPOINT=')).toHaveLength(1);
    } finally {
      run.child.kill('SIGINT');
    }
    expect(await run.exited).toBe(0);
    expect(processesWithEnv(marker)).toEqual([]);
    rmSync(runDir, { recursive: true, force: true });
  }, 180_000);
});

describe('a real classifier-worker on a stand-in instance', () => {
  it('an idle worker exits 0 and its instance powers off, which terminates it: it never calls TerminateInstances, which its role lacks', async () => {
    const logDir = mkdtempSync(join(tmpdir(), 'ec2-worker-e2e-'));
    const aws = await startLocalAws({ port: 0 });
    const lines: string[] = [];
    const standIn = await startEc2StandIn({
      bootSeconds: 0,
      worker: { main: join(WORKSPACE_ROOT, 'dist/apps/classifier-worker/main.js'), cwd: WORKSPACE_ROOT, logDir },
      log: (line) => lines.push(line),
    });
    const ec2 = new EC2Client({ region: 'us-east-1', endpoint: standIn.endpoint, credentials: LOCAL_CREDENTIALS, maxAttempts: 1 });
    try {
      const template = standIn.addLaunchTemplate({
        versions: [
          {
            shutdownBehavior: 'terminate',
            workerEnv: {
              PATH: process.env['PATH'] ?? '',
              ...aws.env,
              ...standIn.env,
              AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
              MODEL_DIR,
              IDLE_SECONDS: '2',
              LOG_LEVEL: 'info',
            },
          },
        ],
      });
      const fleet = new Ec2Fleet(ec2, { stackName: 'ics', ec2: { launchTemplateId: template.id, instanceType: 't3.medium', securityGroupIds: [] } });
      const [worker] = await fleet.launch(1);
      await until(`instance terminated:\n${lines.join('\n')}`, () => standIn.instance(worker.id)?.state === 'terminated', 90_000, 200);

      expect(standIn.instance(worker.id)?.stateReason).toBe('Client.InstanceInitiatedShutdown');
      expect(lines).toContain(`${worker.id}: instance-initiated shutdown (the worker service exited 0 (SuccessAction=poweroff))`);
      expect(standIn.calls.filter((c) => c.action === 'TerminateInstances')).toHaveLength(0);
      const log = readFileSync(join(logDir, `${worker.id}.log`), 'utf8');
      expect(log).toContain('exiting: the instance powers off, which terminates it');
      // Gone from the fleet, as the controllers see it.
      expect((await fleet.list()).find((w) => w.id === worker.id)).toBeUndefined();
    } finally {
      ec2.destroy();
      await standIn.stop();
      await aws.stop();
      rmSync(logDir, { recursive: true, force: true });
    }
  }, 120_000);
});
