import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WORKSPACE_ROOT, type Lockfile } from './artifacts';

/**
 * Packages of the artifacts' lockfiles that declare an install script which the
 * hosts deliberately do not run (`npm ci --ignore-scripts`), and why nothing breaks.
 */
export const SKIPPED_INSTALL_SCRIPTS: Record<string, string> = {
  '@scarf/scarf': 'telemetry (via @nestjs/swagger): nothing to install',
  'core-js': 'its postinstall only prints a banner',
  'onnxruntime-node': 'its postinstall only fetches the CUDA provider from a NuGet feed; the CPU binaries for linux x64 and arm64 ship in the package',
  protobufjs: 'its postinstall only checks the versions of its optional CLI dependencies',
};

/** deploy/bin/install-app.sh's ALLOW_SCRIPTS: the install scripts a host runs (npm rebuild). */
export function allowedInstallScripts(root = WORKSPACE_ROOT): string[] {
  const script = readFileSync(join(root, 'deploy/bin/install-app.sh'), 'utf8');
  const m = /^ALLOW_SCRIPTS=\(([^)]*)\)$/m.exec(script);
  if (!m) throw new Error('deploy/bin/install-app.sh has no ALLOW_SCRIPTS=(...) line');
  return m[1].split(/\s+/).filter(Boolean);
}

/** The packages a lockfile installs that have an install script. */
export function packagesWithInstallScripts(lock: Lockfile): string[] {
  return Object.entries(lock.packages)
    .filter(([path, p]) => path.startsWith('node_modules/') && (p as { hasInstallScript?: boolean }).hasInstallScript)
    .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length))
    .sort();
}
