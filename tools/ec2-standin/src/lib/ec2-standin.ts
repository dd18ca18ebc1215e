/**
 * EC2 STAND-IN — a test double for development, never a production component.
 *
 * No EC2 emulator installs offline, so this speaks the subset of the EC2 Query
 * API the project calls (RunInstances, DescribeInstances, TerminateInstances,
 * CreateTags) over HTTP on loopback, with EC2's own XML responses and error
 * documents, so that the real AWS SDK v3 and `Ec2Fleet` run against it
 * unchanged (AWS_ENDPOINT_URL_EC2). Each instance boots (pending → running
 * after `bootSeconds`) and then runs a real classifier-worker process with
 * WORKER_PLATFORM=ec2, which finds its instance id through an IMDSv2 stand-in
 * served on the same port. Faults (describe lag, partial capacity, throttling,
 * Spot capacity and price) can be injected, and Spot instances interrupted.
 * It checks no signatures and keeps everything in memory.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ec2Api, type ApiCall } from './ec2-api';
import { NO_FAULTS, type Ec2Faults } from './faults';
import { IMDS_PREFIX, MetadataService } from './imds';
import { WORKER_UNIT, writeShutdownShim } from './instance-process';
import { InstanceTable, type InstanceView } from './instances';
import { LaunchTemplates, type LaunchTemplate, type LaunchTemplateConfig } from './launch-templates';
import { SpotInterruptions } from './spot';
import { Ec2Error, errorXml, newRequestId, parseQuery, responseXml } from './wire';

export interface Ec2StandInOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  region?: string;
  /** Seconds an instance stays pending before it runs (EC2_BOOT_SECONDS). Default 3. */
  bootSeconds?: number;
  /** EC2's own waits (the two-minute Spot notice) run this many times faster (EC2_TIME_SCALE). Default 1. */
  timeScale?: number;
  launchTemplates?: LaunchTemplateConfig[];
  /** How instances run their worker; without it instances boot but run no process. */
  worker?: {
    /** The built worker, e.g. dist/apps/classifier-worker/main.js. */
    main: string;
    cwd?: string;
    /** One log per instance: `<logDir>/<instance-id>.log`. */
    logDir: string;
    /** SIGKILL this long after SIGTERM when an instance terminates. Default 10 000. */
    killGraceMs?: number;
    /** A crashed worker restarts after this long (systemd RestartSec). Default: the unit's, 1 000. */
    restartDelayMs?: number;
  };
  faults?: Partial<Ec2Faults>;
  /** Each state change and API call worth knowing, one line each. */
  log?: (line: string) => void;
}

export interface Ec2StandIn {
  /** The EC2 API endpoint (AWS_ENDPOINT_URL_EC2). */
  readonly endpoint: string;
  readonly port: number;
  readonly region: string;
  /** AWS_ENDPOINT_URL_EC2 and AWS_REGION for a client of this stand-in. */
  readonly env: Record<string, string>;
  /** Every instance the stand-in knows (terminated ones too), in launch order. */
  instances(): InstanceView[];
  instance(id: string): InstanceView | undefined;
  addLaunchTemplate(config: LaunchTemplateConfig): LaunchTemplate;
  /** The faults in force; `setFaults` changes some of them at once (resetting the throttle bucket). */
  readonly faults: Readonly<Ec2Faults>;
  setFaults(faults: Partial<Ec2Faults>): void;
  /** The next `count` calls (of the throttled actions) answer RequestLimitExceeded. */
  throttleNext(count: number): void;
  /** API calls so far (the last 5 000 or more), with the error code each one got. */
  readonly calls: readonly ApiCall[];
  /**
   * EC2 interrupts this Spot instance now: its metadata serves the notice and
   * it is terminated two minutes (scaled) later. False when it is not a live Spot instance.
   */
  interruptSpot(instanceId: string): boolean;
  /** The instance's OS powers off (as `shutdown -h` would): terminated or stopped by its shutdown behaviour. */
  powerOff(instanceId: string): boolean;
  /** Stops the server and every instance's worker (SIGTERM, then SIGKILL). */
  stop(): Promise<void>;
}

export async function startEc2StandIn(options: Ec2StandInOptions = {}): Promise<Ec2StandIn> {
  const host = options.host ?? '127.0.0.1';
  const region = options.region ?? 'us-east-1';
  const zone = `${region}a`;
  const log = options.log ?? (() => undefined);
  let faults: Ec2Faults = { ...NO_FAULTS, ...options.faults };
  let bootSeconds = options.bootSeconds ?? 3;
  const timeScale = options.timeScale ?? 1;
  if (!(timeScale > 0)) throw new RangeError(`timeScale must be > 0 (got ${timeScale})`);
  const binDir = mkdtempSync(join(tmpdir(), 'ec2-standin-bin-'));
  const address = { endpoint: '' };
  const metadataEndpoint = (id: string) => `${address.endpoint}${IMDS_PREFIX}${id}`;

  const table = new InstanceTable({
    bootMs: () => bootSeconds * 1000,
    worker: options.worker && {
      main: options.worker.main,
      cwd: options.worker.cwd ?? process.cwd(),
      logDir: options.worker.logDir,
      killGraceMs: options.worker.killGraceMs ?? 10_000,
      restartDelayMs: options.worker.restartDelayMs ?? WORKER_UNIT.restartDelayMs,
    },
    metadataEndpoint,
    binDir,
    log,
    onRunning: (i) => spot.running(i),
  });
  const spot = new SpotInterruptions(table, () => faults, () => timeScale, log);
  const templates = new LaunchTemplates();
  for (const t of options.launchTemplates ?? []) templates.add(t);
  const api = new Ec2Api(table, templates, () => faults, zone, log);
  const imds = new MetadataService((id) => table.get(id), zone, region, (id, why) => table.powerOff(id, why));

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path.startsWith(IMDS_PREFIX)) return imds.handle(req, res, path);
    readBody(req).then(
      (body) => answerApi(api, req, res, body),
      () => res.destroy(),
    );
  });
  server.keepAliveTimeout = 65_000;
  // once() rejects on the server's 'error' (the port taken, say).
  server.listen(options.port ?? 0, host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  address.endpoint = `http://${host}:${port}`;
  // The shim reads the instance's own metadata endpoint from its environment.
  writeShutdownShim(binDir);
  log(`EC2 stand-in listening on ${address.endpoint} (boot ${bootSeconds} s)`);

  let stopped = false;
  return {
    endpoint: address.endpoint,
    port,
    region,
    env: { AWS_ENDPOINT_URL_EC2: address.endpoint, AWS_REGION: region },
    instances: () => table.all().sort((a, b) => a.seq - b.seq).map((i) => table.view(i)),
    instance: (id) => {
      const i = table.get(id);
      return i && table.view(i);
    },
    addLaunchTemplate: (config) => templates.add(config),
    get faults() {
      return faults;
    },
    setFaults(f) {
      faults = { ...faults, ...f };
      api.throttle.reset();
    },
    throttleNext: (count) => api.throttle.throttleNext(count),
    calls: api.calls,
    interruptSpot: (id) => spot.interrupt(id),
    powerOff: (id) => table.powerOff(id, 'powered off from outside'),
    async stop() {
      if (stopped) return;
      stopped = true;
      bootSeconds = Infinity;
      spot.close();
      await table.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(binDir, { recursive: true, force: true });
      log('EC2 stand-in stopped');
    },
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** One Query API request: form parameters from the body (POST) or the URL (GET). */
function answerApi(api: Ec2Api, req: IncomingMessage, res: ServerResponse, body: string): void {
  const requestId = newRequestId();
  const query = (req.url ?? '').split('?')[1] ?? '';
  const params = parseQuery(req.method === 'POST' ? body : query);
  const action = typeof params['Action'] === 'string' ? params['Action'] : '';
  res.setHeader('Content-Type', 'text/xml;charset=UTF-8');
  res.setHeader('x-amzn-RequestId', requestId);
  try {
    if (!action) throw new Ec2Error('MissingAction', 'The request must contain the parameter Action');
    const xml = responseXml(action, requestId, api.handle(action, params));
    res.statusCode = 200;
    res.end(xml);
  } catch (err) {
    const e = err instanceof Ec2Error ? err : new Ec2Error('InternalError', 'An internal error has occurred', 500);
    res.statusCode = e.status;
    res.end(errorXml(e, requestId));
  }
}
