import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { APPS, WORKSPACE_ROOT } from './lib/artifacts';
import { packageApp } from './package-apps';

const PACKAGES = join(WORKSPACE_ROOT, 'dist/packages');
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe.each(APPS)('dist/packages/%s.tar.gz (from nx build packaging)', (app) => {
  const tarball = join(PACKAGES, `${app}.tar.gz`);
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), `unpack-${app}-`));
    execFileSync('tar', ['-xzf', tarball, '-C', dir]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('holds the app, its unit and the install script under one folder named after the app', () => {
    const entries = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean);
    expect(entries.every((e) => e.startsWith(`${app}/`))).toBe(true);
    expect(entries).toEqual(
      expect.arrayContaining([
        `${app}/app/main.js`,
        `${app}/app/package.json`,
        `${app}/app/package-lock.json`,
        `${app}/${app}.service`,
        `${app}/install.sh`,
      ]),
    );
  });

  it('is byte for byte the build, the unit and the install script', () => {
    for (const f of ['main.js', 'package.json', 'package-lock.json']) {
      expect({ f, sha: sha256(join(dir, app, 'app', f)) }).toEqual({ f, sha: sha256(join(WORKSPACE_ROOT, 'dist/apps', app, f)) });
    }
    expect(sha256(join(dir, app, `${app}.service`))).toBe(sha256(join(WORKSPACE_ROOT, 'deploy/systemd', `${app}.service`)));
    expect(sha256(join(dir, app, 'install.sh'))).toBe(sha256(join(WORKSPACE_ROOT, 'deploy/bin/install-app.sh')));
    expect(statSync(join(dir, app, 'install.sh')).mode & 0o111).not.toBe(0);
  });

  it('is listed in the manifest with its size and hash', () => {
    const manifest = JSON.parse(readFileSync(join(PACKAGES, 'manifest.json'), 'utf8')) as { app: string; bytes: number; sha256: string; file: string }[];
    expect(manifest.find((m) => m.app === app)).toMatchObject({
      file: `${app}.tar.gz`,
      bytes: statSync(tarball).size,
      sha256: sha256(tarball),
    });
  });
});

describe('packageApp', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'package-root-'));
    for (const d of ['deploy', 'package.json']) cpSync(join(WORKSPACE_ROOT, d), join(root, d), { recursive: true });
    cpSync(join(WORKSPACE_ROOT, 'dist/apps/monitor-controller'), join(root, 'dist/apps/monitor-controller'), { recursive: true });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('packs a good artifact', () => {
    const p = packageApp('monitor-controller', root, join(root, 'out'));
    expect(p.tarball).toBe(join(root, 'out/monitor-controller.tar.gz'));
    expect(p.bytes).toBe(statSync(p.tarball).size);
  });

  it('refuses an artifact without its lockfile, and makes no tarball', () => {
    rmSync(join(root, 'dist/apps/monitor-controller/package-lock.json'));
    expect(() => packageApp('monitor-controller', root, join(root, 'out'))).toThrow(
      'monitor-controller: dist/apps/monitor-controller/package-lock.json is missing; run "npx nx build monitor-controller"',
    );
    expect(statSync(join(root, 'out'), { throwIfNoEntry: false })).toBeUndefined();
  });

  it('refuses an artifact that needs a module npm ci would not install', () => {
    const main = join(root, 'dist/apps/monitor-controller/main.js');
    writeFileSync(main, `${readFileSync(main, 'utf8')}\nrequire("left-pad");\n`);
    expect(() => packageApp('monitor-controller', root, join(root, 'out'))).toThrow(
      'monitor-controller: the bundle requires left-pad, which npm ci would not install',
    );
  });

  it('refuses when the unit is missing', () => {
    rmSync(join(root, 'deploy/systemd/monitor-controller.service'));
    mkdirSync(join(root, 'out'));
    expect(() => packageApp('monitor-controller', root, join(root, 'out'))).toThrow(/monitor-controller\.service/);
  });
});
