import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * WorkerArchitecture=arm64: the worker artifact (what `nx build classifier-worker`
 * writes, and what an instance installs with `npm ci`) must resolve for
 * linux-arm64. npm picks platform packages by the lockfile's `cpu`/`os` fields,
 * so a dry-run install for arm64 shows what a Graviton instance would get,
 * offline from the npm cache, without installing 400 MB.
 */
const ROOT = resolve(__dirname, '../..');
const ARTIFACT = join(ROOT, 'dist/apps/classifier-worker');

type Lock = { packages: Record<string, { version?: string; cpu?: string[]; os?: string[] }> };

describe('the worker artifact on Graviton (linux-arm64)', () => {
  let dir: string;
  let lock: Lock;

  beforeAll(() => {
    if (!existsSync(join(ARTIFACT, 'package-lock.json'))) {
      throw new Error(`no worker artifact in ${ARTIFACT}: build it first (npx nx build classifier-worker)`);
    }
    dir = mkdtempSync(join(tmpdir(), 'worker-arm64-'));
    for (const f of ['package.json', 'package-lock.json']) copyFileSync(join(ARTIFACT, f), join(dir, f));
    lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8')) as Lock;
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('npm ci --cpu=arm64 --os=linux resolves sharp with its linux-arm64 binaries and no other platform\'s', () => {
    const out = execFileSync(
      'npm',
      ['ci', '--omit=dev', '--cpu=arm64', '--os=linux', '--libc=glibc', '--ignore-scripts', '--dry-run', '--offline', '--no-audit', '--no-fund'],
      { cwd: dir, encoding: 'utf8', timeout: 110_000, env: { ...process.env, npm_config_cpu: undefined, npm_config_os: undefined } },
    );
    const added = [...out.matchAll(/^add (\S+) (\S+)$/gm)].map((m) => m[1]);
    expect(added).toEqual(expect.arrayContaining(['sharp', '@img/sharp-linux-arm64', '@img/sharp-libvips-linux-arm64', 'onnxruntime-node']));
    // The lockfile knows other platforms' packages (sharp's x64 binaries among them); none of them is installed for arm64.
    const otherPlatforms = Object.entries(lock.packages)
      .filter(([, p]) => (p.cpu && !p.cpu.includes('arm64')) || (p.os && !p.os.includes('linux')))
      .map(([path]) => path.replace(/^.*node_modules\//, ''));
    expect(otherPlatforms).toEqual(expect.arrayContaining(['@img/sharp-linux-x64', '@img/sharp-libvips-linux-x64']));
    expect(added.filter((name) => otherPlatforms.includes(name))).toEqual([]);
  }, 120_000);

  it('onnxruntime-node of the artifact ships its linux-arm64 binding inside the package (nothing is downloaded at install)', () => {
    const version = lock.packages['node_modules/onnxruntime-node']?.version;
    const installed = JSON.parse(readFileSync(join(ROOT, 'node_modules/onnxruntime-node/package.json'), 'utf8')) as { version: string };
    // The same tarball as the artifact's (npm ci verified its integrity against the root lockfile).
    expect(installed.version).toBe(version);
    const arm64 = join(ROOT, 'node_modules/onnxruntime-node/bin/napi-v6/linux/arm64');
    for (const f of ['onnxruntime_binding.node', 'libonnxruntime.so.1']) expect(existsSync(join(arm64, f))).toBe(true);
    // An ELF for AArch64 (e_machine 183), not an x86-64 one (62).
    const header = readFileSync(join(arm64, 'onnxruntime_binding.node')).subarray(0, 20);
    expect(header.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(header.readUInt16LE(18)).toBe(183);
  });
});
