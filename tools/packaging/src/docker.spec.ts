import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
import { parse } from 'yaml';
import { AwsClients } from '@app/aws';
import { loadConfig } from '@app/config';
import { createFleet, Ec2Fleet } from '@app/fleet';
import { startLocalAws, type LocalAws } from '@tools/local-aws';
import { MODEL_DIR } from '@tools/testing';
import { APPS, CONTROL_APPS, WORKER_APP, WORKSPACE_ROOT } from './lib/artifacts';
import { unknownVariables } from './lib/config-variables';

const DOCKER = join(WORKSPACE_ROOT, 'docker');

/** Compose's ${VAR:-default} / ${VAR} interpolation, with only the defaults (no variables set). */
function interpolate(text: string): string {
  // `$$` is a literal `$` (kept for the shell), not a variable.
  return text.replace(/\$\$|\$\{([A-Z_][A-Z0-9_]*)(?::?-([^}]*))?\}/g, (all: string, _name?: string, fallback?: string) =>
    all === '$$' ? '$' : (fallback ?? ''),
  );
}

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  ports?: string[];
  command?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: string | number };
  healthcheck?: { test?: string[]; disable?: boolean };
}
const compose = parse(interpolate(readFileSync(join(DOCKER, 'compose.yaml'), 'utf8')), { merge: true }) as {
  services: Record<string, Service>;
};
const services = compose.services;

/** The variables a service's process gets: its environment plus `NAME=value` set in its command. */
function processEnv(s: Service): Record<string, string> {
  const env = { ...(s.environment ?? {}) };
  for (const part of s.command ?? []) {
    for (const m of part.matchAll(/\b([A-Z][A-Z0-9_]*)=(\S+)/g)) env[m[1]] = m[2].replace(/^\$\(hostname\)$/, 'a1b2c3d4e5f6');
  }
  return env;
}

interface Dockerfile {
  stages: { from: string; name?: string; lines: string[] }[];
  text: string;
}
function readDockerfile(app: string): Dockerfile {
  const text = readFileSync(join(DOCKER, `${app}.Dockerfile`), 'utf8');
  // Join continuation lines, drop comments.
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const stages: Dockerfile['stages'] = [];
  for (const line of lines) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) stages.push({ from: from[1], name: from[2], lines: [] });
    else stages.at(-1)?.lines.push(line);
  }
  return { stages, text };
}

describe('docker/compose.yaml', () => {
  it('has the emulator, its init, the three control apps and the workers', () => {
    expect(Object.keys(services).sort()).toEqual(['aws', 'aws-init', ...APPS].sort());
    expect(services['aws'].image).toMatch(/^motoserver\/moto:\d+\.\d+\.\d+$/);
  });

  it.each(APPS)('%s builds from its own Dockerfile with the repository root as context', (app) => {
    const build = services[app].build;
    expect(build).toEqual({ context: '..', dockerfile: `docker/${app}.Dockerfile` });
    const context = resolve(DOCKER, build?.context ?? '');
    expect(context).toBe(WORKSPACE_ROOT);
    expect(existsSync(join(context, build?.dockerfile ?? ''))).toBe(true);
    // BuildKit's per-Dockerfile ignore file, since the context is the repository root.
    const ignore = readFileSync(join(context, `${build?.dockerfile}.dockerignore`), 'utf8').split('\n');
    expect(ignore).toEqual(expect.arrayContaining(['**/node_modules', 'dist', '.git']));
    expect(services[app].image).toBe(`ics/${app}:local`);
  });

  it.each(APPS)('%s sets only variables libs/config (or the AWS SDK) reads, and a configuration it accepts', (app) => {
    const env = processEnv(services[app]);
    expect(unknownVariables(Object.keys(env))).toEqual([]);
    const config = loadConfig(env);
    expect(config.aws.endpoints).toEqual({ s3: 'http://aws:5000', sqs: 'http://aws:5000', ec2: 'http://aws:5000' });
    expect(config.aws.s3ForcePathStyle).toBe(true);
  });

  it('gives every worker replica its own id and the mounted model, and lets workers scale', () => {
    const w = services[WORKER_APP];
    const config = loadConfig(processEnv(w));
    expect(config.worker).toMatchObject({ platform: 'local', workerId: 'a1b2c3d4e5f6', modelDir: '/models/current' });
    expect(w.command).toEqual(['sh', '-c', 'WORKER_ID=$(hostname) exec node main.js']);
    expect(w.ports).toBeUndefined();
    expect(Number(w.deploy?.replicas)).toBe(2);
    const [source, target] = (w.volumes?.[0] ?? '').split(':');
    expect(target).toBe('/models/current');
    // The default model is the one the tests use (../shared next to the repository).
    expect(resolve(DOCKER, source)).toBe(resolve(MODEL_DIR));
  });

  it('runs the launch and monitor controllers on the EC2 provider against the emulator', () => {
    for (const app of ['launch-controller', 'monitor-controller']) {
      const config = loadConfig(processEnv(services[app]));
      expect(config.scaling.provider).toBe('ec2');
      // What each controller builds at start-up from that configuration.
      const clients = new AwsClients(config);
      expect(createFleet(config, clients)).toBeInstanceOf(Ec2Fleet);
      clients.onApplicationShutdown();
    }
    expect(loadConfig(processEnv(services['launch-controller'])).scaling.ec2.amiId).toMatch(/^ami-/);
  });

  it('gives the monitor controller both dead-letter queues, named as aws-init creates them', () => {
    const env = processEnv(services['monitor-controller']);
    expect(env['LAUNCH_DEAD_LETTER_QUEUE_URL']).toBe(`${env['LAUNCH_QUEUE_URL']}-dlq`);
    expect(env['MONITOR_DEAD_LETTER_QUEUE_URL']).toBe(`${env['MONITOR_QUEUE_URL']}-dlq`);
    expect(loadConfig(env).queues).toMatchObject({ launchDeadLetter: env['LAUNCH_DEAD_LETTER_QUEUE_URL'], monitorDeadLetter: env['MONITOR_DEAD_LETTER_QUEUE_URL'] });
  });

  it('publishes each HTTP app on its own host port, to the container port it listens on', () => {
    const hostPorts: string[] = [];
    for (const app of CONTROL_APPS) {
      const port = String(loadConfig(processEnv(services[app])).http.port);
      const mapped = services[app].ports ?? [];
      expect(mapped).toHaveLength(1);
      const [host, container] = mapped[0].split(':');
      expect({ app, container }).toEqual({ app, container: port });
      expect(readDockerfile(app).text).toContain(`EXPOSE ${port}\n`);
      hostPorts.push(host);
    }
    hostPorts.push((services['aws'].ports ?? [])[0].split(':')[0]);
    expect(new Set(hostPorts).size).toBe(hostPorts.length);
  });

  it('points every app at the emulator service, whose queues aws-init creates first', () => {
    const awsPort = (services['aws'].ports ?? [])[0].split(':')[1];
    for (const app of APPS) {
      const env = processEnv(services[app]);
      for (const k of ['LAUNCH_QUEUE_URL', 'MONITOR_QUEUE_URL', 'OUTPUT_QUEUE_URL', 'AWS_ENDPOINT_URL']) {
        expect(new URL(env[k]).host).toBe(`aws:${awsPort}`);
      }
      expect(services[app].depends_on).toEqual({ 'aws-init': { condition: 'service_completed_successfully' } });
    }
    expect(services['aws-init'].depends_on).toEqual({ aws: { condition: 'service_healthy' } });
    expect(services['aws-init'].command).toEqual(['node', '/usr/local/lib/aws-init.cjs']);
    const [source] = (services['aws-init'].volumes ?? [])[0].split(':');
    expect(existsSync(resolve(DOCKER, source))).toBe(true);
    expect(unknownVariables(Object.keys(processEnv(services['aws-init'])))).toEqual([]);
  });
});

describe.each(APPS)('docker/%s.Dockerfile', (app) => {
  const df = readDockerfile(app);
  const runtime = df.stages.at(-1);

  it('builds in stages from a slim Node base and runs node main.js as a non-root user', () => {
    expect(df.stages.map((s) => s.name)).toEqual(['build', 'deps', 'runtime']);
    // Node 24 LTS, as on the hosts (deploy/bin/install-app.sh).
    expect(df.text).toMatch(/^ARG NODE_IMAGE=node:24-bookworm-slim$/m);
    // Installs run no package's install script but the allowlisted ones.
    for (const l of df.text.split('\n').filter((x) => /\bnpm ci\b/.test(x))) expect(l).toContain('--ignore-scripts');
    for (const s of df.stages) expect(s.from).toBe('${NODE_IMAGE}');
    expect(runtime?.lines.filter((l) => l.startsWith('USER '))).toEqual(['USER node']);
    expect(runtime?.lines.at(-1)).toBe('CMD ["node", "main.js"]');
  });

  it('builds exactly this app and copies only its artifact and production node_modules', () => {
    expect(df.stages[0].lines).toContain(`RUN npx nx build ${app} --skip-nx-cache`);
    expect(df.stages[1].lines).toContain(
      `COPY --from=build /src/dist/apps/${app}/package.json /src/dist/apps/${app}/package-lock.json ./`,
    );
    const copies = runtime?.lines.filter((l) => l.startsWith('COPY')) ?? [];
    expect(copies).toEqual([
      'COPY --from=deps /app/node_modules ./node_modules',
      `COPY --from=build /src/dist/apps/${app}/ ./`,
      'COPY docker/healthcheck.cjs /usr/local/lib/healthcheck.cjs',
    ]);
    // Every file COPY'd from the context exists.
    for (const l of df.text.split('\n').filter((x) => /^COPY (?!--from)/.test(x))) {
      for (const src of l.split(/\s+/).slice(1, -1)) expect({ src, exists: existsSync(join(WORKSPACE_ROOT, src)) }).toEqual({ src, exists: true });
    }
  });

  it('installs the native TensorFlow backend only in the worker', () => {
    const install = df.stages[1].lines.find((l) => l.startsWith('RUN npm ci')) ?? '';
    if (app === WORKER_APP) {
      expect(install).toContain('npm ci --omit=dev');
      expect(install).not.toContain('--omit=optional');
      expect(install).toContain("require('@tensorflow/tfjs-node')");
    } else {
      expect(install).toContain('npm ci --omit=dev --omit=optional');
    }
  });

  it('has a health check that the image can run', () => {
    const hc = runtime?.lines.find((l) => l.startsWith('HEALTHCHECK')) ?? '';
    const mode = app === WORKER_APP ? 'queue' : 'http';
    expect(hc).toMatch(new RegExp(`CMD \\["node", "/usr/local/lib/healthcheck.cjs", "${mode}"\\]$`));
    expect(runtime?.lines.some((l) => l.startsWith('EXPOSE'))).toBe(app !== WORKER_APP);
  });

  it('sets no environment the apps do not read', () => {
    const set = df.stages.flatMap((s) => s.lines.filter((l) => l.startsWith('ENV ')));
    const names = set.flatMap((l) => [...l.slice(4).matchAll(/([A-Z_][A-Z0-9_]*)=/g)].map((m) => m[1]));
    // Build-stage settings of the Nx CLI only; nothing reaches the runtime stage.
    expect(names.filter((n) => !['NX_DAEMON', 'NX_NO_CLOUD', 'CI'].includes(n))).toEqual([]);
    expect(runtime?.lines.filter((l) => l.startsWith('ENV '))).toEqual([]);
  });
});

function runNode(script: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [script, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, cwd: DOCKER });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('exit', (code) => res({ code, out }));
  });
}

describe('docker/healthcheck.cjs', () => {
  let server: Server;
  let port: number;
  let status = 200;
  beforeAll(async () => {
    server = createServer((req, res) => {
      res.statusCode = req.url === '/health' ? status : 404;
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('http: healthy when GET /health on PORT answers 2xx', async () => {
    status = 200;
    expect(await runNode('healthcheck.cjs', ['http'], { PORT: String(port) })).toEqual({ code: 0, out: '' });
  });

  it('http: unhealthy on an error status or no server, saying why', async () => {
    status = 503;
    expect(await runNode('healthcheck.cjs', ['http'], { PORT: String(port) })).toEqual({ code: 1, out: 'unhealthy: GET /health answered 503\n' });
    const closed = await runNode('healthcheck.cjs', ['http'], { PORT: '1' });
    expect(closed.code).toBe(1);
    expect(closed.out).toMatch(/^unhealthy: GET \/health: /);
  });

  it('rejects an unknown mode', async () => {
    expect(await runNode('healthcheck.cjs', ['tcp'], {})).toEqual({ code: 1, out: 'unhealthy: unknown mode tcp (http or queue)\n' });
  });
});

describe('against the embedded S3 and SQS', () => {
  let aws: LocalAws;
  let names: Record<string, string>;
  beforeAll(async () => {
    aws = await startLocalAws({ port: 0, queuePrefix: 'pre-' });
    names = {
      INPUT_BUCKET: 'compose-input',
      OUTPUT_BUCKET: 'compose-output',
      LAUNCH_QUEUE_URL: `${aws.endpoint}/000000000000/compose-launch`,
      MONITOR_QUEUE_URL: `${aws.endpoint}/000000000000/compose-monitor`,
      OUTPUT_QUEUE_URL: `${aws.endpoint}/000000000000/compose-output`,
    };
  });
  afterAll(async () => {
    await aws?.stop();
  });

  it('aws-init.cjs creates the buckets and the queues, the launch and monitor queues with their dead-letter queues, twice without harm', async () => {
    const env = { ...aws.env, ...names };
    for (let i = 0; i < 2; i++) {
      const run = await runNode('aws-init.cjs', [], env);
      expect({ code: run.code, out: run.out }).toEqual({ code: 0, out: expect.stringContaining('aws-init: ready') });
    }
    const s3 = new S3Client({ region: 'us-east-1', endpoint: aws.endpoint, forcePathStyle: true, credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY } });
    const sqs = new SQSClient({ region: 'us-east-1', endpoint: aws.endpoint, credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY } });
    try {
      const buckets = (await s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name);
      expect(buckets).toEqual(expect.arrayContaining(['compose-input', 'compose-output']));
      const url = async (q: string) => (await sqs.send(new GetQueueUrlCommand({ QueueName: q }))).QueueUrl ?? '';
      const dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: await url('compose-launch-dlq'), AttributeNames: ['QueueArn'] }))).Attributes?.['QueueArn'];
      const launch = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: await url('compose-launch'), AttributeNames: ['RedrivePolicy'] }));
      expect(JSON.parse(launch.Attributes?.['RedrivePolicy'] ?? '{}')).toEqual({ deadLetterTargetArn: dlqArn, maxReceiveCount: 5 });
      const monitorDlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: await url('compose-monitor-dlq'), AttributeNames: ['QueueArn'] }))).Attributes?.['QueueArn'];
      const monitor = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: await url('compose-monitor'), AttributeNames: ['RedrivePolicy'] }));
      expect(JSON.parse(monitor.Attributes?.['RedrivePolicy'] ?? '{}')).toEqual({ deadLetterTargetArn: monitorDlqArn, maxReceiveCount: 5 });
      expect(await url('compose-output')).toMatch(/compose-output$/);
    } finally {
      s3.destroy();
      sqs.destroy();
    }
  }, 30_000);

  it('aws-init.cjs names a missing variable', async () => {
    const env: Record<string, string> = { ...aws.env, ...names };
    delete env['OUTPUT_QUEUE_URL'];
    expect(await runNode('aws-init.cjs', [], env)).toEqual({ code: 2, out: 'aws-init: OUTPUT_QUEUE_URL is not set\n' });
  });

  it('healthcheck.cjs queue: healthy when the launch queue answers, unhealthy when it does not exist', async () => {
    const ok = await runNode('healthcheck.cjs', ['queue'], aws.env);
    expect({ code: ok.code, out: ok.out.replace(/\(node:\d+\) Warning: NodeVersionSupportWarning[\s\S]*$/, '') }).toEqual({ code: 0, out: '' });
    const missing = await runNode('healthcheck.cjs', ['queue'], { ...aws.env, LAUNCH_QUEUE_URL: `${aws.endpoint}/000000000000/no-such-queue` });
    expect(missing.code).toBe(1);
    expect(missing.out).toMatch(/unhealthy: launch queue: /);
  }, 30_000);
});
