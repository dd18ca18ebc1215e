/**
 * The one way browser tests get a headless Chromium: CHROMIUM_PATH when set,
 * else Debian's /usr/bin/chromium when present, else the Chromium of the npm
 * devDependency @sparticuz/chromium, unpacked once into node_modules/.cache.
 */
import { constants, accessSync, createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress } from 'node:zlib';
import type { Browser } from 'playwright-core';
import { WORKSPACE_ROOT } from './apps';
import { processesWithEnv, testChildEnv } from './processes';

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
export const DEBIAN_CHROMIUM = '/usr/bin/chromium';
export const NPM_CHROMIUM = join(WORKSPACE_ROOT, 'node_modules/@sparticuz/chromium');
export const CHROMIUM_CACHE = join(WORKSPACE_ROOT, 'node_modules/.cache/chromium');

const WHAT_TO_DO =
  "set CHROMIUM_PATH to a Chromium or Chrome binary, install Debian's chromium (apt-get install chromium), " +
  'or run npm ci to install the devDependency @sparticuz/chromium';

/** No usable Chromium: the message says what was looked for and what to do. */
export class NoChromiumError extends Error {
  override readonly name = 'NoChromiumError';
}

export type ChromiumSource = 'CHROMIUM_PATH' | 'debian' | 'npm';

export interface ChromiumInstall {
  executablePath: string;
  source: ChromiumSource;
  /** Extra environment the browser process needs (the npm build's own shared libraries and fonts). */
  env: Record<string, string>;
}

export interface ChromiumLookup {
  /** Default: process.env.CHROMIUM_PATH. */
  chromiumPath?: string;
  debianPath?: string;
  npmPackageDir?: string;
  cacheDir?: string;
}

/** Where the browser comes from, in order of preference; unpacks the npm Chromium on first use. */
export async function findChromium(lookup: ChromiumLookup = {}): Promise<ChromiumInstall> {
  const chromiumPath = 'chromiumPath' in lookup ? lookup.chromiumPath : process.env['CHROMIUM_PATH'];
  if (chromiumPath) {
    if (!isExecutable(chromiumPath)) throw new NoChromiumError(`no Chromium: CHROMIUM_PATH=${chromiumPath} is not an executable file; ${WHAT_TO_DO}`);
    return { executablePath: chromiumPath, source: 'CHROMIUM_PATH', env: {} };
  }
  const debianPath = lookup.debianPath ?? DEBIAN_CHROMIUM;
  if (isExecutable(debianPath)) return { executablePath: debianPath, source: 'debian', env: {} };
  const packageDir = lookup.npmPackageDir ?? NPM_CHROMIUM;
  if (!existsSync(join(packageDir, 'bin/chromium.br'))) {
    throw new NoChromiumError(`no Chromium: CHROMIUM_PATH is unset, ${debianPath} is missing and ${packageDir} is not installed; ${WHAT_TO_DO}`);
  }
  const unpacked = await unpackNpmChromium(packageDir, lookup.cacheDir ?? CHROMIUM_CACHE);
  return {
    executablePath: unpacked.executablePath,
    source: 'npm',
    env: {
      LD_LIBRARY_PATH: [unpacked.libDir, process.env['LD_LIBRARY_PATH']].filter(Boolean).join(':'),
      FONTCONFIG_FILE: unpacked.fontConfig,
    },
  };
}

export interface UnpackedChromium {
  dir: string;
  executablePath: string;
  /** libnss3, libnspr4, libplc4, libplds4, libexpat, ...: what Debian's chromium package would bring. */
  libDir: string;
  fontConfig: string;
}

/**
 * The package's own code unpacks its libraries only on Amazon Linux (and into
 * the shared /tmp), so this does it: binary, libraries and fonts into
 * `<cacheDir>/<version>`, built in a private folder and renamed into place so
 * that parallel test files never see half of it.
 */
export async function unpackNpmChromium(packageDir: string, cacheDir: string): Promise<UnpackedChromium> {
  const { version } = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string };
  const dir = join(cacheDir, version);
  const layout = (d: string): UnpackedChromium => ({ dir: d, executablePath: join(d, 'chromium'), libDir: join(d, 'lib'), fontConfig: join(d, 'fonts.conf') });
  if (existsSync(join(dir, 'complete'))) return layout(dir);

  // Unique per call: two unpacks in one process in the same millisecond must not share a folder.
  const work = `${dir}.${process.pid}.${randomUUID()}`;
  mkdirSync(work, { recursive: true });
  try {
    const bin = join(packageDir, 'bin');
    await Promise.all([
      pipeline(createReadStream(join(bin, 'chromium.br')), createBrotliDecompress(), createWriteStream(join(work, 'chromium'), { mode: 0o755 })),
      untar(join(bin, 'al2023.tar.br'), work), // lib/*.so
      untar(join(bin, 'fonts.tar.br'), work), // fonts/Open_Sans/*.ttf (its fonts.conf names Lambda's paths: replaced below)
    ]);
    writeFileSync(
      join(work, 'fonts.conf'),
      // The machine's own fonts when it has a configuration, and the package's Open Sans always.
      `<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n` +
        `  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n  <dir>${dir}/fonts</dir>\n  <cachedir>${dir}/fonts-cache</cachedir>\n</fontconfig>\n`,
    );
    writeFileSync(join(work, 'complete'), `${version}\n`);
    try {
      renameSync(work, dir);
    } catch (err) {
      // Another test process finished first: use its copy.
      if (!existsSync(join(dir, 'complete'))) throw err;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return layout(dir);
}

async function untar(archive: string, into: string): Promise<void> {
  const { extract } = await import('tar-fs');
  await pipeline(createReadStream(archive), createBrotliDecompress(), extract(into));
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export interface LaunchChromiumOptions {
  lookup?: ChromiumLookup;
  /** How long the browser may take to start before the launch fails (and its process is killed). */
  timeoutMs?: number;
  /** Extra environment for the browser process. */
  env?: Record<string, string>;
}

/**
 * Browsers this test file launched and has not closed, and launches still in
 * flight: a set-up that failed elsewhere (e.g. an app that did not start)
 * while the browser was starting must not lose it (Jest gives each test file
 * its own copy of this module).
 */
const openBrowsers = new Set<Browser>();
const launching = new Set<Promise<unknown>>();

/** Closes every browser this test file launched, waiting for launches in flight first. Call it in afterAll. */
export async function closeAllBrowsers(): Promise<void> {
  await Promise.allSettled([...launching]);
  await Promise.all([...openBrowsers].map((b) => b.close().catch(() => undefined)));
}

/**
 * Headless Chromium through playwright-core. Fails within `timeoutMs` with a
 * message naming the binary, where it came from and what to do, and leaves no
 * browser process behind. The browser is registered for closeAllBrowsers().
 */
export function launchChromium(options: LaunchChromiumOptions = {}): Promise<Browser> {
  const launch = launchUntracked(options).then((browser) => {
    openBrowsers.add(browser);
    browser.on('disconnected', () => openBrowsers.delete(browser));
    return browser;
  });
  const settled = launch.catch(() => undefined);
  launching.add(settled);
  void settled.then(() => launching.delete(settled));
  return launch;
}

async function launchUntracked(options: LaunchChromiumOptions): Promise<Browser> {
  const install = await findChromium(options.lookup);
  // Loaded here, not at the top: every test imports this package, few need a browser.
  const { chromium } = await import('playwright-core');
  // Playwright leaves the process of a launch that timed out running until
  // this process exits, and a Jest worker would wait on it forever: every
  // process of this launch carries the marker, so it can be found and killed.
  const marker = `ICS_BROWSER_LAUNCH=${randomUUID()}`;
  try {
    return await chromium.launch({
      executablePath: install.executablePath,
      args: CHROMIUM_ARGS,
      env: { ...process.env, ...testChildEnv(), ...install.env, ...options.env, ICS_BROWSER_LAUNCH: marker.split('=')[1] },
      timeout: options.timeoutMs ?? 30_000,
    });
  } catch (err) {
    await killAll(marker);
    const reason = (err as Error).message.split('\n').slice(0, 12).join('\n');
    throw new NoChromiumError(`no Chromium: ${install.executablePath} (from ${sourceName(install.source)}) did not start: ${reason}\n${WHAT_TO_DO}`);
  }
}

async function killAll(envEntry: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const pids = processesWithEnv(envEntry);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`browser processes carrying ${envEntry} survived SIGKILL: ${processesWithEnv(envEntry).join(', ')}`);
}

function sourceName(source: ChromiumSource): string {
  return { CHROMIUM_PATH: 'CHROMIUM_PATH', debian: "Debian's chromium package", npm: 'the npm package @sparticuz/chromium' }[source];
}
