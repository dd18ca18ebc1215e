import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@app/config';
import sharp from 'sharp';
import { takeBuildLock, workerBudget } from './build-images';
import { defaultNodeImage, IMAGE_NAMES } from './catalogue';
import { EXIT, parseBuildArgs, parseCheckArgs } from './cli';
import { systemEnv } from './container-system';
import { descendants } from './containers';
import { BuildahEngine, chooseEngine, chooseStorage, DockerEngine, leftBehindByBuild, storageArgs } from './engine';
import { baseConfig, baseKey, baseTag, DEFAULT_RECIPE } from './offline-base';
import { generatePhoto, pickPhotos } from './photos';
import { lineStamper, run } from './run';

describe('npm run images arguments', () => {
  it('builds all five images by default, from the committed tree, trying the pinned base first', () => {
    expect(parseBuildArgs([])).toEqual({
      kind: 'run',
      options: { engine: 'auto', only: [...IMAGE_NAMES], offlineBase: false, workingTree: false, json: undefined, nodeImage: undefined },
    });
    expect(IMAGE_NAMES).toEqual(['web-tier', 'launch-controller', 'monitor-controller', 'classifier-worker', 'local-aws']);
  });

  it('takes --json, --engine, --only (in build order) and --offline-base', () => {
    const r = parseBuildArgs(['--json', 'out.json', '--engine', 'buildah', '--only', 'local-aws,web-tier', '--offline-base']);
    expect(r).toEqual({ kind: 'run', options: expect.objectContaining({ json: 'out.json', engine: 'buildah', only: ['web-tier', 'local-aws'], offlineBase: true }) });
  });

  it('rejects an unknown flag, an unknown engine or image with one line and exit 2; --help exits 0', () => {
    const unknown = parseBuildArgs(['--fast']);
    expect(unknown).toEqual({ kind: 'exit', code: EXIT.usage, output: "npm run images --: unknown option '--fast' (see --help)\n" });
    expect(parseBuildArgs(['--engine', 'podman'])).toEqual({ kind: 'exit', code: 2, output: expect.stringMatching(/^npm run images --: option '--engine <VALUE>' argument 'podman' is invalid.*\n$/) });
    expect(parseBuildArgs(['--only', 'web-tier,nginx'])).toEqual({ kind: 'exit', code: 2, output: expect.stringMatching(/^npm run images --: --only: unknown image nginx/) });
    expect(parseBuildArgs(['extra'])).toMatchObject({ kind: 'exit', code: 2 });
    const help = parseBuildArgs(['--help']);
    expect(help).toMatchObject({ kind: 'exit', code: EXIT.done });
    expect(help.kind === 'exit' && help.output).toContain('--offline-base');
  });
});

describe('npm run images:check arguments', () => {
  it('uploads five photos by default and bounds the numbers', () => {
    expect(parseCheckArgs([])).toEqual({ kind: 'run', options: { engine: 'auto', photos: 5, timeoutSeconds: 300, json: undefined } });
    expect(parseCheckArgs(['--photos', '0'])).toEqual({ kind: 'exit', code: 2, output: 'npm run images:check --: --photos must be an integer >= 1 and <= 100 (got 0) (see --help)\n' });
    expect(parseCheckArgs(['--timeout', 'soon'])).toMatchObject({ kind: 'exit', code: 2 });
    expect(parseCheckArgs(['--json'])).toEqual({ kind: 'exit', code: 2, output: "npm run images:check --: option '--json <OUT>' argument missing (see --help)\n" });
  });
});

describe('engine choice', () => {
  it('takes docker when its engine answers, else buildah', () => {
    expect(chooseEngine('auto', { dockerEngineAnswers: true, buildahInstalled: true })).toBeInstanceOf(DockerEngine);
    expect(chooseEngine('auto', { dockerEngineAnswers: false, buildahInstalled: true })).toBeInstanceOf(BuildahEngine);
    expect(chooseEngine('buildah', { dockerEngineAnswers: true, buildahInstalled: true })).toBeInstanceOf(BuildahEngine);
  });

  it('says what is missing and how to get it', () => {
    expect(chooseEngine('auto', { dockerEngineAnswers: false, buildahInstalled: false })).toEqual({
      missing: expect.stringMatching(/^no container engine: no docker engine answers .*, and buildah is not installed \(.*apt-get install -y buildah/),
    });
    expect(chooseEngine('docker', { dockerEngineAnswers: false, buildahInstalled: true })).toEqual({ missing: expect.stringMatching(/^no docker engine answers/) });
  });
});

describe('buildah storage', () => {
  it('takes overlay where it mounts, vfs where it does not, and what BUILDAH_STORAGE_DRIVER says without probing', () => {
    const probed: string[] = [];
    const works = (ok: boolean) => (driver: string) => (probed.push(driver), ok);
    expect(chooseStorage({}, works(true))).toMatchObject({ driver: 'overlay', root: undefined });
    expect(chooseStorage({}, works(false))).toMatchObject({ driver: 'vfs', reason: expect.stringContaining('overlay does not mount') });
    expect(probed).toEqual(['overlay', 'overlay']);
    expect(chooseStorage({ BUILDAH_STORAGE_DRIVER: 'vfs', BUILDAH_ROOT: '/srv/c' }, works(true))).toEqual({ driver: 'vfs', root: '/srv/c', reason: 'BUILDAH_STORAGE_DRIVER' });
    expect(probed).toHaveLength(2);
  });

  it('passes the driver, and the root only when one is set, before every command', () => {
    expect(storageArgs({ driver: 'overlay' })).toEqual(['--storage-driver', 'overlay']);
    expect(storageArgs({ driver: 'vfs', root: '/srv/c' })).toEqual(['--storage-driver', 'vfs', '--root', '/srv/c']);
  });
});

describe('the offline base', () => {
  const ca = Buffer.from('-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n');

  it('is keyed on every input: the same inputs reuse the image, any change builds a new one', () => {
    const key = baseKey(DEFAULT_RECIPE, ca);
    expect(baseKey({ ...DEFAULT_RECIPE }, Buffer.from(ca))).toBe(key);
    const changed = [
      baseKey({ ...DEFAULT_RECIPE, nodeVersion: '24.22.4' }, ca),
      baseKey({ ...DEFAULT_RECIPE, npmVersion: '11.20.0' }, ca),
      baseKey({ ...DEFAULT_RECIPE, suite: 'trixie' }, ca),
      baseKey(DEFAULT_RECIPE, Buffer.concat([ca, Buffer.from('x')])),
    ];
    expect(new Set([key, ...changed]).size).toBe(5);
    expect(baseTag(DEFAULT_RECIPE, key)).toBe(`localhost/ics/node-base:24.22.3-bookworm-${key}`);
  });

  it('is configured as the official Node image (PATH, node on it) and trusts the machine\'s CA bundle', () => {
    const c = baseConfig(DEFAULT_RECIPE);
    expect(c.env).toEqual({ PATH: expect.stringContaining('/usr/local/bin'), NODE_VERSION: '24.22.3', NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt' });
    expect(c.cmd).toEqual(['node']);
    expect(Object.keys(c.labels)).toEqual(expect.arrayContaining(['org.opencontainers.image.title', 'org.opencontainers.image.version']));
  });

  it('replaces the Dockerfiles\' pinned default only through NODE_IMAGE', () => {
    expect(defaultNodeImage('# x\nARG NODE_IMAGE=node:24@sha256:ab\nFROM ${NODE_IMAGE}\n')).toBe('node:24@sha256:ab');
    expect(() => defaultNodeImage('FROM node:24\n')).toThrow(/no ARG NODE_IMAGE/);
  });
});

describe('worker image budget', () => {
  it('is 1.5 × (artifact + Node)', () => {
    expect(workerBudget(700, 400, 100)).toEqual({ imageBytes: 700, artifactBytes: 400, nodeBytes: 100, limitBytes: 750, ratio: 1.4, within: true });
    expect(workerBudget(751, 400, 100)).toMatchObject({ ratio: 1.5, within: false });
  });
});

describe('the containerised system\'s configuration', () => {
  const env = systemEnv({ aws: 14566, ec2: 14567, web: 13000, launch: 13001, monitor: 13002 });

  it('puts both controllers on the EC2 provider against the edge, launching from its template', () => {
    for (const app of ['launch-controller', 'monitor-controller'] as const) {
      const config = loadConfig(env[app]);
      expect(config.scaling.provider).toBe('ec2');
      expect(config.aws.endpoints).toEqual({ s3: 'http://127.0.0.1:14566', sqs: 'http://127.0.0.1:14566', sns: 'http://127.0.0.1:14566', ec2: 'http://127.0.0.1:14567' });
      expect(config.scaling.ec2.launchTemplateId).toBe(env['local-aws']['EC2_LAUNCH_TEMPLATE_ID'] ?? 'lt-0105a1c0ffee00001');
    }
    expect(loadConfig(env['web-tier']).web.launchControllerUrl).toBe('http://127.0.0.1:13001');
    expect(env['local-aws']).toMatchObject({ LOCAL_AWS_PORT: '14566', LOCAL_EC2_PORT: '14567', LOCAL_AWS_PUBLIC_HOST: '127.0.0.1' });
  });
});

describe('build logs', () => {
  it('stamp each whole line with the seconds since the build started, however the output is chunked', () => {
    let now = 1_000;
    const s = lineStamper(1_000, () => now);
    expect(s.push('STEP 1/2: FROM base\nSTEP 2')).toBe('[    0 s] STEP 1/2: FROM base\n');
    now = 65_400;
    expect(s.push('/2: RUN npm ci\n')).toBe('[   64 s] STEP 2/2: RUN npm ci\n');
    expect(s.push('added 1619 packages')).toBe('');
    expect(s.end()).toBe('[   64 s] added 1619 packages\n');
  });
});

describe('a build stopped half-way', () => {
  it('removes only the working containers that appeared during it, never a running check\'s', () => {
    const after = [
      { id: 'a1', name: 'node-base-working-container' },
      { id: 'b2', name: '3cf9ad442f6a-working-container-1' },
      { id: 'c3', name: 'ics-check-0af3-web-tier' },
      { id: 'd4', name: 'ics-check-0af3-local-aws' },
    ];
    expect(leftBehindByBuild(['a1', 'd4'], after)).toEqual([{ id: 'b2', name: '3cf9ad442f6a-working-container-1' }]);
  });

  it('is one build at a time: a second run is refused while the first lives, and takes over once it is gone', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'images-lock-')), 'build.lock');
    const first = takeBuildLock(file, 111, () => true);
    expect(typeof first).toBe('function');
    expect(takeBuildLock(file, 222, (pid) => pid === 111)).toEqual({ heldBy: 111 });
    const second = takeBuildLock(file, 222, (pid) => pid !== 111);
    expect(typeof second).toBe('function');
    expect(readFileSync(file, 'utf8')).toBe('222');
    if (typeof second === 'function') second();
    expect(existsSync(file)).toBe(false);
  });

  it('is stopped with SIGTERM when its signal aborts, and the run rejects once the command has ended', async () => {
    const abort = new AbortController();
    const running = run('sleep', ['30'], { signal: abort.signal });
    abort.abort();
    await expect(running).rejects.toThrow(/sleep 30 failed \(killed\)/);
  });
});

describe('process tree', () => {
  it('lists every descendant of a process, breadth first', () => {
    const tree: Record<number, number[]> = { 1: [2, 3], 2: [4], 4: [5] };
    expect(descendants(1, (p) => tree[p] ?? [])).toEqual([2, 3, 4, 5]);
  });
});

describe('photos', () => {
  it('generates distinct photo-sized JPEGs', async () => {
    const [a, b] = await Promise.all([generatePhoto(0), generatePhoto(1)]);
    expect(a.equals(b)).toBe(false);
    expect(await sharp(a).metadata()).toMatchObject({ format: 'jpeg', width: 480, height: 360 });
  });

  it('takes real photos from the first folder that has them, then generates the rest', async () => {
    const photos = await pickPhotos(2, ['/nonexistent-folder']);
    expect(photos.map((p) => [p.name, p.source])).toEqual([
      ['generated-1.jpg', 'generated'],
      ['generated-2.jpg', 'generated'],
    ]);
  });
});
