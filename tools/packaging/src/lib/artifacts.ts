import { builtinModules } from 'node:module';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

import { WORKSPACE_ROOT } from '@tools/testing';
export { WORKSPACE_ROOT };
export { APPS, CONTROL_APPS, WORKER_APP, type AppName } from '@app/contracts';

/** The optional native TensorFlow backend: only ever an optional dependency. */
export const TFJS_NODE = '@tensorflow/tfjs-node';

export interface PackageJson {
  name: string;
  version: string;
  main?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

export interface Lockfile {
  lockfileVersion: number;
  packages: Record<string, { version?: string; dev?: boolean; optional?: boolean; dependencies?: Record<string, string> }>;
}

export interface Artifact {
  app: string;
  dir: string;
  packageJson: PackageJson;
  lockfile: Lockfile;
  /** Bare module names the bundle's .js files require at run time (no relative paths, no Node built-ins). */
  requires: string[];
  /** Every file, path relative to dir, with its size in bytes. */
  files: { path: string; bytes: number }[];
  bytes: number;
}

export class ArtifactError extends Error {
  override readonly name = 'ArtifactError';
}

const BUILTINS = new Set(builtinModules);

/**
 * Externals a bundle names but never loads when it runs built: libs/classifier
 * require.resolve()s tsx only when it runs from TypeScript sources (tests, scripts);
 * a build has inference-thread.js beside main.js instead.
 */
export const SOURCE_RUN_ONLY: Record<string, string> = {
  tsx: 'libs/classifier uses it only when running from TypeScript sources',
};

const canonical = (deps: Record<string, string> = {}) => JSON.stringify(Object.entries(deps).sort(([a], [b]) => a.localeCompare(b)));

/** `@scope/name/sub` -> `@scope/name`; `name/sub` -> `name`. */
export function packageNameOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/**
 * The packages a webpack bundle loads with require("..."), or whose files it finds at run time with
 * createRequire(...).resolve("...") (which webpack leaves alone): its externals.
 */
export function bareRequires(source: string): string[] {
  const names = new Set<string>();
  for (const m of source.matchAll(/(?:\brequire|\bcreateRequire\)?\([^()]*\)\.resolve)\(\s*["']([^"'./][^"']*)["']\s*\)/g)) {
    const spec = m[1];
    if (spec.startsWith('node:') || BUILTINS.has(spec) || BUILTINS.has(spec.split('/')[0])) continue;
    names.add(packageNameOf(spec));
  }
  return [...names].sort();
}

function listFiles(dir: string): { path: string; bytes: number }[] {
  const out: { path: string; bytes: number }[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else out.push({ path: relative(dir, full), bytes: statSync(full).size });
    }
  };
  walk(dir);
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** Reads dist/apps/<app>; an ArtifactError says what is missing and how to make it. */
export function readArtifact(app: string, root = WORKSPACE_ROOT): Artifact {
  const dir = join(root, 'dist/apps', app);
  for (const file of ['main.js', 'package.json', 'package-lock.json']) {
    if (!existsSync(join(dir, file))) {
      throw new ArtifactError(`${app}: dist/apps/${app}/${file} is missing; run "npx nx build ${app}"`);
    }
  }
  const files = listFiles(dir);
  return {
    app,
    dir,
    packageJson: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson,
    lockfile: JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8')) as Lockfile,
    // main.js and any other entry beside it (the worker's inference-thread.js).
    requires: [
      ...new Set(
        files
          .filter((f) => f.path.endsWith('.js') && !f.path.includes('/'))
          .flatMap((f) => bareRequires(readFileSync(join(dir, f.path), 'utf8'))),
      ),
    ].sort(),
    files,
    bytes: files.reduce((n, f) => n + f.bytes, 0),
  };
}

/**
 * What is wrong with an artifact as a self-contained production package; empty when
 * nothing is. `rootDevDependencies` are the workspace's build tools, which an
 * artifact must never carry.
 */
export function artifactProblems(a: Artifact, rootDevDependencies: Record<string, string>): string[] {
  const problems: string[] = [];
  const deps = a.packageJson.dependencies ?? {};
  const optional = a.packageJson.optionalDependencies ?? {};
  if (a.packageJson.main !== 'main.js') problems.push(`package.json "main" is ${JSON.stringify(a.packageJson.main)}, not "main.js"`);
  if (a.packageJson.devDependencies && Object.keys(a.packageJson.devDependencies).length > 0) {
    problems.push(`package.json has devDependencies: ${Object.keys(a.packageJson.devDependencies).join(', ')}`);
  }
  for (const name of Object.keys(deps)) {
    if (name in rootDevDependencies) problems.push(`${name} is a build-time (dev) dependency of the workspace`);
  }
  // npm lets optionalDependencies override dependencies, so the native backend may
  // appear in both (Nx's generatePackageJson does that), but it must be optional.
  if ((TFJS_NODE in deps || a.requires.includes(TFJS_NODE)) && !(TFJS_NODE in optional)) {
    problems.push(`${TFJS_NODE} must be under optionalDependencies (it cannot install everywhere)`);
  }
  const tfjsNodeLock = a.lockfile.packages[`node_modules/${TFJS_NODE}`];
  if (tfjsNodeLock && !tfjsNodeLock.optional) problems.push(`package-lock.json installs ${TFJS_NODE} as required, not optional`);
  // The lockfile must be this package.json's: npm ci refuses a mismatch.
  const rootEntry = a.lockfile.packages[''] ?? {};
  const lockRoot = rootEntry as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
  if (a.lockfile.lockfileVersion < 2) problems.push(`lockfileVersion ${a.lockfile.lockfileVersion} is too old for npm ci`);
  if (canonical(lockRoot.dependencies) !== canonical(deps)) {
    problems.push('package-lock.json\'s root dependencies differ from package.json\'s');
  }
  if (canonical(lockRoot.optionalDependencies) !== canonical(optional)) {
    problems.push('package-lock.json\'s root optionalDependencies differ from package.json\'s');
  }
  // Every module main.js requires gets installed at the top of node_modules by npm ci.
  for (const name of a.requires) {
    if (name in SOURCE_RUN_ONLY) continue;
    const entry = a.lockfile.packages[`node_modules/${name}`];
    if (!entry) problems.push(`the bundle requires ${name}, which npm ci would not install`);
    else if (entry.dev) problems.push(`the bundle requires ${name}, which the lockfile marks dev-only`);
    else if (entry.optional && name !== TFJS_NODE && !(name in optional)) {
      problems.push(`the bundle requires ${name}, which the lockfile marks optional`);
    }
  }
  return problems;
}
