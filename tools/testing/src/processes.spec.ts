import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { processesWithEnv, residentMemory, testChildEnv } from './processes';

describe('processes from /proc', () => {
  it('finds a live process by an entry of its environment, and by a second variable\'s prefix, and no longer once it has exited', async () => {
    const marker = `ICS_PROCESSES_SPEC=${randomUUID()}`;
    const child = spawn(process.execPath, ['-e', 'setInterval(() => undefined, 1000)'], {
      env: { ...process.env, ...testChildEnv(), ICS_PROCESSES_SPEC: marker.split('=')[1], APP_NAME: 'probe' },
      stdio: 'ignore',
    });
    try {
      await once(child, 'spawn');
      const pid = child.pid as number;
      expect(processesWithEnv(marker)).toEqual([pid]);
      expect(processesWithEnv(marker, 'APP_NAME=')).toEqual([pid]);
      expect(processesWithEnv(marker, 'WORKER_ID=')).toEqual([]);
      expect(processesWithEnv(`${marker}-other`)).toEqual([]);
    } finally {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    expect(processesWithEnv(marker)).toEqual([]);
  });

  it("reads a process's resident memory now and at its peak, and nothing for a process that is gone", async () => {
    const own = residentMemory(process.pid);
    expect(own?.rssBytes).toBeGreaterThan(10 * 2 ** 20);
    expect(own?.peakBytes).toBeGreaterThanOrEqual(own?.rssBytes ?? Infinity);

    const child = spawn(process.execPath, ['-e', ''], { env: { ...process.env, ...testChildEnv() }, stdio: 'ignore' });
    await once(child, 'exit');
    expect(residentMemory(child.pid as number)).toBeUndefined();
  });
});
