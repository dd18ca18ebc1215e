import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { APPS, artifactProblems, ArtifactError, readArtifact, WORKSPACE_ROOT, type AppName } from './lib/artifacts';

/**
 * `nx build packaging` (part of `nx run-many -t build`): checks each app's
 * dist/apps/<app>/ and packs it for a host, as dist/packages/<app>.tar.gz:
 *
 *   <app>/app/            main.js (+ map, assets), package.json, package-lock.json
 *   <app>/<app>.service   deploy/systemd/<app>.service
 *   <app>/install.sh      deploy/bin/install-app.sh
 *
 * The worker's tarball is what the AMI bake and a stock-AMI worker install; the
 * control host installs the other three. dist/packages/manifest.json lists sizes
 * and SHA-256s.
 */
export interface PackagedApp {
  app: AppName;
  tarball: string;
  bytes: number;
  sha256: string;
  /** The dist/apps/<app>/ folder it was made from. */
  artifactBytes: number;
  mainJsBytes: number;
  dependencies: number;
  lockedPackages: number;
}

export function packageApp(app: AppName, root = WORKSPACE_ROOT, outDir = join(root, 'dist/packages')): PackagedApp {
  const artifact = readArtifact(app, root);
  const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { devDependencies?: Record<string, string> };
  const problems = artifactProblems(artifact, rootPkg.devDependencies ?? {});
  if (problems.length > 0) throw new ArtifactError(`${app}: ${problems.join('; ')}`);

  const stage = mkdtempSync(join(tmpdir(), `package-${app}-`));
  try {
    const top = join(stage, app);
    mkdirSync(top);
    cpSync(artifact.dir, join(top, 'app'), { recursive: true });
    copyFileSync(join(root, 'deploy/systemd', `${app}.service`), join(top, `${app}.service`));
    copyFileSync(join(root, 'deploy/bin/install-app.sh'), join(top, 'install.sh'));
    chmodSync(join(top, 'install.sh'), 0o755);
    mkdirSync(outDir, { recursive: true });
    const tarball = join(outDir, `${app}.tar.gz`);
    // Owner and group 0 so that root extracts files it owns, whoever packed them.
    execFileSync('tar', ['--owner=0', '--group=0', '-czf', tarball, '-C', stage, app]);
    const bytes = statSync(tarball).size;
    return {
      app,
      tarball,
      bytes,
      sha256: createHash('sha256').update(readFileSync(tarball)).digest('hex'),
      artifactBytes: artifact.bytes,
      mainJsBytes: artifact.files.find((f) => f.path === 'main.js')?.bytes ?? 0,
      dependencies: Object.keys(artifact.packageJson.dependencies ?? {}).length,
      lockedPackages: Object.keys(artifact.lockfile.packages).filter((k) => k !== '').length,
    };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

export function packageAll(root = WORKSPACE_ROOT, outDir = join(root, 'dist/packages')): PackagedApp[] {
  const packaged = APPS.map((app) => packageApp(app, root, outDir));
  writeFileSync(
    join(outDir, 'manifest.json'),
    JSON.stringify(
      packaged.map(({ tarball, ...rest }) => ({ ...rest, file: tarball.slice(outDir.length + 1) })),
      null,
      2,
    ) + '\n',
  );
  return packaged;
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

if (require.main === module) {
  try {
    const packaged = packageAll();
    console.log('app                 main.js      dist/apps/<app>  deps  locked  tarball');
    for (const p of packaged) {
      console.log(
        `${p.app.padEnd(19)} ${kb(p.mainJsBytes).padStart(10)} ${kb(p.artifactBytes).padStart(16)} ${String(p.dependencies).padStart(5)} ${String(p.lockedPackages).padStart(7)}  ${kb(p.bytes)}  dist/packages/${p.app}.tar.gz`,
      );
    }
  } catch (err) {
    console.error(err instanceof ArtifactError ? err.message : err);
    process.exit(1);
  }
}
