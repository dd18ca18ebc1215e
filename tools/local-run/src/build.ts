import { spawnSync } from 'node:child_process';
import { APPS } from '@app/contracts';
import { WORKSPACE_ROOT } from './system';

/** Builds every app (Nx caches it: quick after the first time); throws with the build's output when it fails. */
export function buildApps(): void {
  const result = spawnSync('npx', ['nx', 'run-many', '-t', 'build', '-p', ...APPS, '--outputStyle=static'], {
    cwd: WORKSPACE_ROOT,
    encoding: 'utf8',
    env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' },
  });
  if (result.status !== 0) throw new Error(`the build failed:\n${result.stdout}\n${result.stderr}`);
}
