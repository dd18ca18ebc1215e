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
import { EDGE_LAUNCH_TEMPLATE_ID, edgeSettings } from '@tools/images';
import { localAwsEnv, startLocalAws, type LocalAws } from '@tools/local-aws';
import { MODEL_DIR } from '@tools/testing/files';
import { APPS, CONTROL_APPS, WORKER_APP, WORKSPACE_ROOT } from './lib/artifacts';
import { unknownVariables } from './lib/config-variables';

const DOCKER = join(WORKSPACE_ROOT, 'docker');
/** Every image the repository builds: the apps and the local edge (S3/SQS + EC2 stand-in + worker). */
const EDGE = 'local-aws';
const IMAGES = [...APPS, EDGE] as const;
/** npm's cache as a build cache mount (BuildKit and buildah): shared by every install, in no layer. */
const NPM_CACHE = '--mount=type=cache,target=/root/.npm,sharing=locked';

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
/** A compose file as `docker compose config` sees it: YAML with merge keys, variables at their defaults. */
function readCompose(file: string): Record<string, Service> {
  return (parse(interpolate(readFileSync(join(DOCKER, file), 'utf8')), { merge: true }) as { services: Record<string, Service> }).services;
}
const services = readCompose('compose.yaml');
/** The alternative on AWS's own emulator, moto (whose EC2 instances run nothing). */
const moto = readCompose('compose.moto.yaml');

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
  it('uses only the top-level keys every compose implementation accepts (no `name:`, which docker-compose 1.29 rejects)', () => {
    for (const file of ['compose.yaml', 'compose.moto.yaml']) {
      const keys = Object.keys(parse(readFileSync(join(DOCKER, file), 'utf8'), { merge: true }) as object);
      expect({ file, keys: keys.filter((k) => !k.startsWith('x-')) }).toEqual({ file, keys: ['services'] });
    }
  });

  const CONTROLLERS = ['launch-controller', 'monitor-controller'];
  const edgeEnv = () => processEnv(services['aws']);
  const containerPort = (svc: string, index: number) => (services[svc].ports ?? [])[index].split(':')[1];

  it('is the local edge and the three control apps: no moto, no hand-scaled workers', () => {
    expect(Object.keys(services).sort()).toEqual(['aws', ...CONTROL_APPS].sort());
    for (const [name, svc] of Object.entries(services)) expect({ name, service: JSON.stringify(svc) }).not.toEqual({ name, service: expect.stringMatching(/moto/i) });
    expect(services['aws'].image).toBe('ics/local-aws:local');
  });

  it.each([...CONTROL_APPS, 'aws'])('%s builds from its own Dockerfile with the repository root as context', (svc) => {
    const image = svc === 'aws' ? EDGE : svc;
    expect(services[svc].build).toEqual({ context: '..', dockerfile: `docker/${image}.Dockerfile` });
    expect(resolve(DOCKER, services[svc].build?.context ?? '')).toBe(WORKSPACE_ROOT);
    const ignore = readFileSync(join(WORKSPACE_ROOT, `docker/${image}.Dockerfile.dockerignore`), 'utf8').split('\n');
    expect(ignore).toEqual(expect.arrayContaining(['**/node_modules', 'dist', '.git']));
    expect(services[svc].image).toBe(`ics/${image}:local`);
  });

  it('runs workers through the EC2 API of the edge: both controllers on the EC2 provider, launching from the template the edge serves', () => {
    const edge = edgeSettings(edgeEnv());
    expect(edge.launchTemplateId).toBe(EDGE_LAUNCH_TEMPLATE_ID);
    for (const app of CONTROLLERS) {
      const config = loadConfig(processEnv(services[app]));
      expect(config.scaling.provider).toBe('ec2');
      expect(config.scaling.ec2).toMatchObject({ launchTemplateId: edge.launchTemplateId, launchTemplateVersion: '$Latest' });
      expect(config.aws.endpoints.ec2).toBe(`http://aws:${edge.ec2Port}`);
      const clients = new AwsClients(config);
      expect(createFleet(config, clients)).toBeInstanceOf(Ec2Fleet);
      clients.onApplicationShutdown();
    }
  });

  it('gives every app exactly the client environment the edge hands out, under the name other containers reach it by', () => {
    const edge = edgeSettings(edgeEnv());
    expect(edge.publicHost).toBe('aws');
    expect([String(edge.awsPort), String(edge.ec2Port)]).toEqual([containerPort('aws', 0), containerPort('aws', 1)]);
    const { env: expected } = localAwsEnv(`http://${edge.publicHost}:${edge.awsPort}`);
    for (const app of CONTROL_APPS) {
      const env = processEnv(services[app]);
      expect(Object.fromEntries(Object.keys(expected).map((k) => [k, env[k]]))).toEqual(expected);
      expect(unknownVariables(Object.keys(env))).toEqual([]);
      expect(loadConfig(env).aws.endpoints).toMatchObject({ s3: `http://aws:${edge.awsPort}`, sqs: `http://aws:${edge.awsPort}` });
      expect(services[app].depends_on).toEqual({ aws: { condition: 'service_healthy' } });
    }
  });

  it('passes the workers their settings and keeps the edge\'s own and the fleet\'s to itself', () => {
    const edge = edgeSettings(edgeEnv());
    expect(edge.workerEnv).toMatchObject({ IDLE_SECONDS: '60', LOG_LEVEL: 'info' });
    expect(Object.keys(edge.workerEnv).filter((k) => /^(LOCAL_AWS_|LOCAL_EC2_|EC2_|FLEET_)/.test(k))).toEqual([]);
    expect(unknownVariables(Object.keys(edge.workerEnv))).toEqual([]);
  });

  it('publishes each app and both edge ports on distinct host ports; the web tier reaches the launch controller by name', () => {
    const host = Object.values(services).flatMap((svc) => (svc.ports ?? []).map((p) => p.split(':')[0]));
    expect(host).toHaveLength(5);
    expect(new Set(host).size).toBe(5);
    for (const app of CONTROL_APPS) expect(containerPort(app, 0)).toBe(String(loadConfig(processEnv(services[app])).http.port));
    expect(loadConfig(processEnv(services['web-tier'])).web.launchControllerUrl).toBe(
      `http://launch-controller:${containerPort('launch-controller', 0)}`,
    );
  });
});

describe('docker/compose.moto.yaml', () => {
  it('has the emulator, its init, the three control apps and the workers', () => {
    expect(Object.keys(moto).sort()).toEqual(['aws', 'aws-init', ...APPS].sort());
    expect(moto['aws'].image).toMatch(/^motoserver\/moto:\d+\.\d+\.\d+$/);
  });

  it.each(APPS)('%s builds from its own Dockerfile with the repository root as context', (app) => {
    const build = moto[app].build;
    expect(build).toEqual({ context: '..', dockerfile: `docker/${app}.Dockerfile` });
    const context = resolve(DOCKER, build?.context ?? '');
    expect(context).toBe(WORKSPACE_ROOT);
    expect(existsSync(join(context, build?.dockerfile ?? ''))).toBe(true);
    // BuildKit's per-Dockerfile ignore file, since the context is the repository root.
    const ignore = readFileSync(join(context, `${build?.dockerfile}.dockerignore`), 'utf8').split('\n');
    expect(ignore).toEqual(expect.arrayContaining(['**/node_modules', 'dist', '.git']));
    expect(moto[app].image).toBe(`ics/${app}:local`);
  });

  it.each(APPS)('%s sets only variables libs/config (or the AWS SDK) reads, and a configuration it accepts', (app) => {
    const env = processEnv(moto[app]);
    expect(unknownVariables(Object.keys(env))).toEqual([]);
    const config = loadConfig(env);
    expect(config.aws.endpoints).toEqual({ s3: 'http://aws:5000', sqs: 'http://aws:5000', sns: 'http://aws:5000', ec2: 'http://aws:5000' });
    expect(config.aws.s3ForcePathStyle).toBe(true);
  });

  it('gives every worker replica its own id and the mounted model, and lets workers scale', () => {
    const w = moto[WORKER_APP];
    const config = loadConfig(processEnv(w));
    expect(config.worker).toMatchObject({ platform: 'local', workerId: 'a1b2c3d4e5f6', modelDir: '/models/current' });
    expect(w.command).toEqual(['sh', '-c', 'WORKER_ID=$(hostname) exec node main.js']);
    expect(w.ports).toBeUndefined();
    expect(Number(w.deploy?.replicas)).toBe(2);
    const [source, target] = (w.volumes?.[0] ?? '').split(':');
    expect(target).toBe('/models/current');
    // The default model is the small one the tests use, shipped in the repository.
    expect(resolve(DOCKER, source)).toBe(resolve(MODEL_DIR));
  });

  it('runs the launch and monitor controllers on the EC2 provider against the emulator', () => {
    for (const app of ['launch-controller', 'monitor-controller']) {
      const config = loadConfig(processEnv(moto[app]));
      expect(config.scaling.provider).toBe('ec2');
      // What each controller builds at start-up from that configuration.
      const clients = new AwsClients(config);
      expect(createFleet(config, clients)).toBeInstanceOf(Ec2Fleet);
      clients.onApplicationShutdown();
    }
    expect(loadConfig(processEnv(moto['launch-controller'])).scaling.ec2.amiId).toMatch(/^ami-/);
  });

  it('gives the monitor controller both dead-letter queues, named as aws-init creates them', () => {
    const env = processEnv(moto['monitor-controller']);
    expect(env['LAUNCH_DEAD_LETTER_QUEUE_URL']).toBe(`${env['LAUNCH_QUEUE_URL']}-dlq`);
    expect(env['MONITOR_DEAD_LETTER_QUEUE_URL']).toBe(`${env['MONITOR_QUEUE_URL']}-dlq`);
    expect(loadConfig(env).queues).toMatchObject({ launchDeadLetter: env['LAUNCH_DEAD_LETTER_QUEUE_URL'], monitorDeadLetter: env['MONITOR_DEAD_LETTER_QUEUE_URL'] });
  });

  it('publishes each HTTP app on its own host port, to the container port it listens on', () => {
    const hostPorts: string[] = [];
    for (const app of CONTROL_APPS) {
      const port = String(loadConfig(processEnv(moto[app])).http.port);
      const mapped = moto[app].ports ?? [];
      expect(mapped).toHaveLength(1);
      const [host, container] = mapped[0].split(':');
      expect({ app, container }).toEqual({ app, container: port });
      expect(readDockerfile(app).text).toContain(`EXPOSE ${port}\n`);
      hostPorts.push(host);
    }
    hostPorts.push((moto['aws'].ports ?? [])[0].split(':')[0]);
    expect(new Set(hostPorts).size).toBe(hostPorts.length);
  });

  it('points every app at the emulator service, whose queues aws-init creates first', () => {
    const awsPort = (moto['aws'].ports ?? [])[0].split(':')[1];
    for (const app of APPS) {
      const env = processEnv(moto[app]);
      for (const k of ['LAUNCH_QUEUE_URL', 'MONITOR_QUEUE_URL', 'OUTPUT_QUEUE_URL', 'AWS_ENDPOINT_URL']) {
        expect(new URL(env[k]).host).toBe(`aws:${awsPort}`);
      }
      expect(moto[app].depends_on).toEqual({ 'aws-init': { condition: 'service_completed_successfully' } });
    }
    expect(moto['aws-init'].depends_on).toEqual({ aws: { condition: 'service_healthy' } });
    expect(moto['aws-init'].command).toEqual(['node', '/usr/local/lib/aws-init.cjs']);
    const [source] = (moto['aws-init'].volumes ?? [])[0].split(':');
    expect(existsSync(resolve(DOCKER, source))).toBe(true);
    expect(unknownVariables(Object.keys(processEnv(moto['aws-init'])))).toEqual([]);
  });
});

describe.each(IMAGES)('docker/%s.Dockerfile', (image) => {
  const df = readDockerfile(image);
  const runtime = df.stages.at(-1);
  /** The app whose artifact the image builds: the edge carries the worker's. */
  const app = image === EDGE ? WORKER_APP : image;

  it('builds in stages from a Node 24 base pinned by digest and runs one node process as a non-root user', () => {
    expect(df.stages.map((s) => s.name)).toEqual(['build', 'deps', 'runtime']);
    // Node 24 LTS, as on the hosts (deploy/bin/install-app.sh); a tag alone could move under the build.
    expect(df.text).toMatch(/^ARG NODE_IMAGE=node:24-bookworm-slim@sha256:[0-9a-f]{64}$/m);
    for (const s of df.stages) expect(s.from).toBe('${NODE_IMAGE}');
    expect(runtime?.lines.filter((l) => l.startsWith('USER '))).toEqual(['USER node']);
    // Exec form: node is the container's first process and gets SIGTERM itself (no shell between).
    expect(runtime?.lines.at(-1)).toBe(image === EDGE ? 'CMD ["node", "edge-main.js"]' : 'CMD ["node", "main.js"]');
    expect(runtime?.lines).toContain('STOPSIGNAL SIGTERM');
    expect(df.text).not.toMatch(/^(ENTRYPOINT|VOLUME)/m);
  });

  it('shares one build-stage preamble with every image, so an engine installs and builds the workspace once for all', () => {
    const preamble = (d: Dockerfile) => d.stages[0].lines.slice(0, d.stages[0].lines.findIndex((l) => l.startsWith('RUN npx nx ')) + 1);
    expect(preamble(df)).toEqual(preamble(readDockerfile('web-tier')));
    expect(preamble(df)).toContain(`RUN ${NPM_CACHE} npm ci --ignore-scripts --no-audit --no-fund`);
    expect(preamble(df).at(-1)).toBe(`RUN npx nx run-many -t build -p ${APPS.join(',')} --skip-nx-cache`);
  });

  it('installs through the npm cache mount, so no layer carries a cache and every install reuses it', () => {
    const installs = df.text.replace(/\\\n/g, ' ').split('\n').filter((l) => /^RUN .*\bnpm ci\b/.test(l));
    expect(installs.length).toBe(2);
    for (const l of installs) expect(l.startsWith(`RUN ${NPM_CACHE} npm ci `)).toBe(true);
    expect(df.text).not.toContain('npm cache clean');
  });

  it('runs no install script but the allowlisted one, and never onnxruntime-node\'s', () => {
    for (const l of df.text.split('\n').filter((x) => /\bnpm ci\b/.test(x))) expect(l).toContain('--ignore-scripts');
    // A stage that runs an install script on purpose (npm rebuild) makes onnxruntime-node's a no-op.
    for (const s of df.stages) {
      if (s.lines.some((l) => /\bnpm rebuild\b/.test(l))) expect(s.lines.join('\n')).toMatch(/^ENV .*\bONNXRUNTIME_NODE_INSTALL=skip\b/m);
    }
    expect(df.stages[0].lines.join('\n')).toMatch(/^ENV .*\bONNXRUNTIME_NODE_INSTALL=skip\b/m);
  });

  it('builds its artifact (with the other apps, in the shared step) and copies only that and its production node_modules', () => {
    expect(df.stages[0].lines.find((l) => l.startsWith('RUN npx nx '))?.split(' ')).toContain(APPS.join(','));
    expect(APPS).toContain(app);
    expect(df.stages[1].lines).toContain(`COPY --from=build /src/dist/apps/${app}/package.json /src/dist/apps/${app}/package-lock.json ./`);
    const copies = runtime?.lines.filter((l) => l.startsWith('COPY')) ?? [];
    expect(copies).toEqual(
      image === EDGE
        ? [
            'COPY --from=deps /app/node_modules /opt/worker/node_modules',
            `COPY --from=build /src/dist/apps/${app}/ /opt/worker/`,
            'COPY --from=build /src/dist/edge/ ./',
            'COPY docker/healthcheck.cjs /usr/local/lib/healthcheck.cjs',
          ]
        : ['COPY --from=deps /app/node_modules ./node_modules', `COPY --from=build /src/dist/apps/${app}/ ./`, 'COPY docker/healthcheck.cjs /usr/local/lib/healthcheck.cjs'],
    );
    // Every file COPY'd from the context exists.
    for (const l of df.text.split('\n').filter((x) => /^COPY (?!--from)/.test(x))) {
      for (const src of l.split(/\s+/).slice(1, -1)) expect({ src, exists: existsSync(join(WORKSPACE_ROOT, src)) }).toEqual({ src, exists: true });
    }
  });

  it('installs the native TensorFlow backend only for the worker, and the edge\'s worker exactly as the worker image does', () => {
    const install = df.stages[1].lines.find((l) => l.startsWith(`RUN ${NPM_CACHE} npm ci`)) ?? '';
    if (app === WORKER_APP) {
      expect(install).toContain('npm ci --omit=dev');
      expect(install).not.toContain('--omit=optional');
      expect(install).toContain("require('@tensorflow/tfjs-node')");
      // Skippable where its download host is unreachable (the offline base).
      expect(df.stages[1].lines).toContain('ARG TFJS_NODE=try');
      expect(df.stages[1].lines).toEqual(readDockerfile(WORKER_APP).stages[1].lines);
    } else {
      expect(install).toContain('npm ci --omit=dev --omit=optional');
    }
  });

  it('has a health check that the image can run, and exposes its ports', () => {
    const hc = runtime?.lines.find((l) => l.startsWith('HEALTHCHECK')) ?? '';
    const modes: Record<string, string> = { [WORKER_APP]: 'queue', [EDGE]: 'edge' };
    const mode = modes[image] ?? 'http';
    expect(hc).toMatch(new RegExp(`CMD \\["node", "/usr/local/lib/healthcheck.cjs", "${mode}"\\]$`));
    const expose = runtime?.lines.filter((l) => l.startsWith('EXPOSE')) ?? [];
    const exposed: Record<string, string[]> = { [WORKER_APP]: [], [EDGE]: ['EXPOSE 4566 4567'] };
    expect(expose).toEqual(exposed[image] ?? ['EXPOSE 3000']);
  });

  it('carries the OCI labels, the revision and base among them', () => {
    const labels = Object.fromEntries(
      [...(runtime?.lines.filter((l) => l.startsWith('LABEL ')).join(' ') ?? '').matchAll(/(org\.opencontainers\.image\.[a-z.]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );
    expect(labels).toEqual({
      'org.opencontainers.image.title': `ics/${image}`,
      'org.opencontainers.image.description': expect.stringMatching(/\w/),
      'org.opencontainers.image.licenses': 'MIT',
      'org.opencontainers.image.revision': '${REVISION}',
      'org.opencontainers.image.base.name': '${NODE_IMAGE}',
    });
    // A global ARG (before the first FROM) is empty inside a stage unless the stage declares it again.
    const labelAt = runtime?.lines.findIndex((l) => l.startsWith('LABEL ')) ?? -1;
    expect(runtime?.lines.slice(0, labelAt)).toContain('ARG NODE_IMAGE');
  });

  it('sets no environment the apps do not read: configuration comes only from the container\'s environment', () => {
    const set = df.stages.flatMap((s) => s.lines.filter((l) => l.startsWith('ENV ')));
    const names = set.flatMap((l) => [...l.slice(4).matchAll(/([A-Z_][A-Z0-9_]*)=/g)].map((m) => m[1]));
    // Build-stage settings of the Nx CLI and of onnxruntime-node's installer only; nothing reaches the runtime stage.
    expect(names.filter((n) => !['NX_DAEMON', 'NX_NO_CLOUD', 'CI', 'ONNXRUNTIME_NODE_INSTALL'].includes(n))).toEqual([]);
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
   }, 30_000);

  it('http: unhealthy on an error status or no server, saying why', async () => {
    status = 503;
    expect(await runNode('healthcheck.cjs', ['http'], { PORT: String(port) })).toEqual({ code: 1, out: 'unhealthy: GET /health answered 503\n' });
    const closed = await runNode('healthcheck.cjs', ['http'], { PORT: '1' });
    expect(closed.code).toBe(1);
    expect(closed.out).toMatch(/^unhealthy: GET \/health: /);
   }, 30_000);

  it('edge: healthy when both edge ports answer HTTP, unhealthy naming them when one does not', async () => {
    status = 404;
    expect(await runNode('healthcheck.cjs', ['edge'], { LOCAL_AWS_PORT: String(port), LOCAL_EC2_PORT: String(port) })).toEqual({ code: 0, out: '' });
    const down = await runNode('healthcheck.cjs', ['edge'], { LOCAL_AWS_PORT: String(port), LOCAL_EC2_PORT: '1' });
    expect(down.code).toBe(1);
    expect(down.out).toMatch(new RegExp(`^unhealthy: edge ports ${port}, 1: `));
   }, 30_000);

  it('rejects an unknown mode', async () => {
    expect(await runNode('healthcheck.cjs', ['tcp'], {})).toEqual({ code: 1, out: 'unhealthy: unknown mode tcp (http, queue or edge)\n' });
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
