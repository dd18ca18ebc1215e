import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnApp, stopAllApps } from './apps';
import { closeAllBrowsers, findChromium, launchChromium, NoChromiumError, unpackNpmChromium, NPM_CHROMIUM } from './browser';
import { processesWithEnv } from './processes';
import { startTestStack } from './stack';

jest.setTimeout(120_000);

const NO_DEBIAN = '/nonexistent/usr/bin/chromium';
let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'browser-spec-'));
});
afterAll(async () => {
  await closeAllBrowsers();
  await stopAllApps();
  rmSync(scratch, { recursive: true, force: true });
});

function script(name: string, body: string): string {
  const path = join(scratch, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

describe('where the browser comes from', () => {
  it('CHROMIUM_PATH first, then Debian\'s chromium, then the npm package', async () => {
    const mine = script('my-chromium', 'exit 0');
    const debian = script('debian-chromium', 'exit 0');
    expect(await findChromium({ chromiumPath: mine, debianPath: debian })).toMatchObject({ executablePath: mine, source: 'CHROMIUM_PATH' });
    expect(await findChromium({ chromiumPath: undefined, debianPath: debian })).toMatchObject({ executablePath: debian, source: 'debian' });
    expect(await findChromium({ chromiumPath: undefined, debianPath: NO_DEBIAN })).toMatchObject({ source: 'npm' });
  });

  it('a CHROMIUM_PATH that is not an executable file is refused with what to do, not replaced by another browser', async () => {
    await expect(findChromium({ chromiumPath: join(scratch, 'nothing-here') })).rejects.toThrow(
      new NoChromiumError(
        `no Chromium: CHROMIUM_PATH=${join(scratch, 'nothing-here')} is not an executable file; set CHROMIUM_PATH to a Chromium or Chrome binary, ` +
          "install Debian's chromium (apt-get install chromium), or run npm ci to install the devDependency @sparticuz/chromium",
      ),
    );
  });

  it('with no browser anywhere it says what it looked for and what to do', async () => {
    await expect(findChromium({ chromiumPath: undefined, debianPath: NO_DEBIAN, npmPackageDir: join(scratch, 'no-package') })).rejects.toThrow(
      /^no Chromium: CHROMIUM_PATH is unset, \/nonexistent\/usr\/bin\/chromium is missing and .*no-package is not installed; set CHROMIUM_PATH/,
    );
  });
});

describe('the npm Chromium', () => {
  it('unpacks binary, shared libraries and fonts once, safely from parallel test processes', async () => {
    const cache = join(scratch, 'cache');
    const [a, b] = await Promise.all([unpackNpmChromium(NPM_CHROMIUM, cache), unpackNpmChromium(NPM_CHROMIUM, cache)]);
    expect(a).toEqual(b);
    expect(readdirSync(cache)).toEqual(['153.0.0']); // no half-built folder left behind
    expect(readdirSync(a.libDir)).toEqual(expect.arrayContaining(['libnss3.so', 'libnspr4.so', 'libplc4.so', 'libplds4.so', 'libexpat.so.1']));
    expect(execFileSync(a.executablePath, ['--version'], { env: { LD_LIBRARY_PATH: a.libDir }, encoding: 'utf8' })).toMatch(/^Chromium 153\./);
  });

  it('runs on the libraries it ships, not the machine\'s (a fresh machine has none)', async () => {
    const install = await findChromium({ chromiumPath: undefined, debianPath: NO_DEBIAN });
    const ldd = execFileSync('ldd', [install.executablePath], { env: { LD_LIBRARY_PATH: install.env['LD_LIBRARY_PATH'] }, encoding: 'utf8' });
    for (const lib of ['libnss3.so', 'libnspr4.so', 'libplc4.so', 'libplds4.so', 'libexpat.so.1']) {
      expect(ldd).toContain(`${lib} => ${join(install.executablePath, '../lib', lib)}`);
    }
    expect(ldd).not.toContain('not found');
  });

  it('renders a page in real headless Chromium', async () => {
    const browser = await launchChromium({ lookup: { chromiumPath: undefined, debianPath: NO_DEBIAN } });
    try {
      expect(browser.version()).toMatch(/^153\./);
      const page = await browser.newPage();
      await page.setContent('<p id="x">hello</p><script>document.getElementById("x").textContent += " from script"</script>');
      expect(await page.textContent('#x')).toBe('hello from script');
    } finally {
      await browser.close();
    }
  });
});

describe('a browser that does not start', () => {
  it('a binary that never answers fails the launch at its timeout and is killed', async () => {
    const marker = `ICS_TEST_MARKER=${randomUUID()}`;
    const hangs = script('hangs', 'exec sleep 600');
    const started = Date.now();
    await expect(launchChromium({ lookup: { chromiumPath: hangs }, timeoutMs: 3000, env: { ICS_TEST_MARKER: marker.split('=')[1] } })).rejects.toThrow(
      new RegExp(`^no Chromium: ${hangs} \\(from CHROMIUM_PATH\\) did not start: .*Timeout 3000ms exceeded`),
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(processesWithEnv(marker)).toEqual([]);
  });

  it('a binary that cannot load its libraries fails at once with the loader\'s message', async () => {
    const broken = script('broken', 'echo "chromium: error while loading shared libraries: libnss3.so: cannot open shared object file" >&2; exit 127');
    const started = Date.now();
    await expect(launchChromium({ lookup: { chromiumPath: broken } })).rejects.toThrow(/did not start: [\s\S]*error while loading shared libraries: libnss3\.so/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('a browser that started while another part of the set-up failed is still closed by closeAllBrowsers', async () => {
    const id = randomUUID();
    const launch = launchChromium({ lookup: { chromiumPath: undefined, debianPath: NO_DEBIAN }, env: { ICS_TEST_MARKER: id } });
    const setUp = Promise.all([new Promise((_, reject) => setTimeout(() => reject(new Error('the app did not start')), 10)), launch]);
    await expect(setUp).rejects.toThrow('the app did not start');
    // The launch is still in flight: closeAllBrowsers waits for it, then closes it.
    await closeAllBrowsers();
    expect((await launch).isConnected()).toBe(false);
    expect(processesWithEnv(`ICS_TEST_MARKER=${id}`)).toEqual([]);
  });

  it('when it fails after the test already spawned its apps, the set-up fails fast and stopAllApps leaves no process behind', async () => {
    const id = randomUUID();
    const stack = await startTestStack();
    try {
      const started = Date.now();
      // The shape of a browser test's beforeAll: app and browser started together, the browser fails.
      const setUp = Promise.all([
        (async () => {
          const web = spawnApp('web-tier', { ...stack.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ICS_TEST_MARKER: id });
          await web.waitForLine(/web-tier ready on/, 60_000);
          return web;
        })(),
        launchChromium({ lookup: { chromiumPath: script('hangs-too', 'exec sleep 600') }, timeoutMs: 3000, env: { ICS_TEST_MARKER: id } }),
      ]);
      await expect(setUp).rejects.toThrow(/^no Chromium: /);
      expect(Date.now() - started).toBeLessThan(60_000);
      // The web tier was never handed back to the test, yet it is known and stopped.
      expect(processesWithEnv(`ICS_TEST_MARKER=${id}`)).toHaveLength(1);
      expect((await stopAllApps()).map((a) => a.app)).toEqual(['web-tier']);
      expect(processesWithEnv(`ICS_TEST_MARKER=${id}`)).toEqual([]);
    } finally {
      await stopAllApps();
      await stack.stop();
    }
  });
});
