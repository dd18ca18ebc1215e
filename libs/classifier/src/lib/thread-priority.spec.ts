import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { feedingThreadsNice, kernelThreadId, lowerAllThreads, lowerOtherThreads } from './thread-priority';

const linux = existsSync('/proc/thread-self');

/**
 * Runs in a child process: lowering priorities cannot be undone without privileges, and
 * this test process must keep its own. The child starts a "model" thread, lowers every
 * other thread 7 below it (nice), then starts one more thread from the event loop, and reports
 * the nice value of each (read back from the kernel).
 */
function inChild(niceOfChild = 0): { base: number; mainId: number; main: number; model: number; modelId: number; later: number; changed: number; again: number; mainAfterOwnLowering: number } {
  const tsx = require.resolve('tsx/cjs/api');
  const lib = join(__dirname, 'thread-priority.ts');
  const thread = `require(${JSON.stringify(tsx)}).register(); const { parentPort } = require('node:worker_threads'); const { kernelThreadId } = require(${JSON.stringify(lib)}); parentPort.postMessage(kernelThreadId()); setInterval(() => {}, 1000);`;
  const script = `
    require(${JSON.stringify(tsx)}).register();
    const { Worker } = require('node:worker_threads');
    const { getPriority, setPriority } = require('node:os');
    const { kernelThreadId, lowerOtherThreads } = require(${JSON.stringify(lib)});
    const start = () => new Promise((resolve) => { const w = new Worker(${JSON.stringify(thread)}, { eval: true }); w.once('message', (id) => resolve({ w, id })); });
    (async () => {
      const base = getPriority(0);
      const model = await start();
      const changed = lowerOtherThreads(model.id, 7);
      const later = await start();
      const report = { base, mainId: kernelThreadId(), main: getPriority(kernelThreadId()), model: getPriority(model.id), modelId: model.id, later: getPriority(later.id), changed };
      // A thread already lower than asked is left lower.
      setPriority(kernelThreadId(), 19);
      report.again = lowerOtherThreads(model.id, 7);
      report.mainAfterOwnLowering = getPriority(kernelThreadId());
      console.log(JSON.stringify(report));
      process.exit(0);
    })();`;
  const [command, args] = niceOfChild > 0 ? ['nice', ['-n', String(niceOfChild), process.execPath, '-e', script]] : [process.execPath, ['-e', script]];
  return JSON.parse(execFileSync(command as string, args as string[], { encoding: 'utf8', timeout: 60_000 }).trim().split('\n').pop() ?? '');
}

describe('feedingThreadsNice: how far below the model its feeders run, by default', () => {
  it('yields the model its core entirely where the model leaves another free', () => {
    expect(feedingThreadsNice(1, 2)).toBe(19);
    expect(feedingThreadsNice(3, 4)).toBe(19);
  });

  it('shares where the model may take every core: ONNX Runtime on all of them, or TF.js (threads of its own)', () => {
    expect(feedingThreadsNice(2, 2)).toBe(5);
    expect(feedingThreadsNice(8, 2)).toBe(5);
    expect(feedingThreadsNice(1, 1)).toBe(5);
    expect(feedingThreadsNice(undefined, 16)).toBe(5);
  });
});

(linux ? describe : describe.skip)('thread priority (Linux)', () => {
  it("tells this thread's kernel id: the process id on the main thread", () => {
    expect(kernelThreadId()).toBe(process.pid);
  });

  it('lowers every thread but the model thread, and threads started later from the event loop follow', () => {
    const r = inChild();
    expect(r.mainId).not.toBe(r.modelId);
    expect(r.model).toBe(r.base);
    expect(r.main).toBe(Math.min(19, r.base + 7));
    expect(r.later).toBe(Math.min(19, r.base + 7));
    // The main thread and V8's and libuv's helpers: more than one.
    if (r.base < 12) expect(r.changed).toBeGreaterThan(1);
    // None raised: the main thread stays at 19, and nothing was left to lower.
    expect(r.mainAfterOwnLowering).toBe(19);
    expect(r.again).toBe(0);
  }, 60_000);

  it("lowers them relative to the model thread's own priority, never below the lowest (19)", () => {
    const r = inChild(14);
    expect(r.model).toBe(Math.max(r.base, 14));
    expect(r.base).toBeGreaterThanOrEqual(14);
    expect([r.main, r.later]).toEqual([19, 19]);
  }, 60_000);

  it('lowers every thread of a process (the emulator giving way to a model elsewhere); threads started later follow, none is raised', () => {
    const tsx = require.resolve('tsx/cjs/api');
    const lib = join(__dirname, 'thread-priority.ts');
    const script = `
      require(${JSON.stringify(tsx)}).register();
      const { readdirSync } = require('node:fs');
      const { Worker } = require('node:worker_threads');
      const { getPriority, setPriority } = require('node:os');
      const { lowerAllThreads } = require(${JSON.stringify(lib)});
      const nices = () => readdirSync('/proc/self/task').map((id) => { try { return getPriority(Number(id)); } catch { return undefined; } }).filter((n) => n !== undefined);
      const helper = new Worker('setInterval(() => {}, 1000)', { eval: true });
      helper.once('online', () => {
        const before = nices();
        const changed = lowerAllThreads(6);
        const after = nices();
        new Worker('setInterval(() => {}, 1000)', { eval: true }).once('online', () => {
          const later = nices();
          setPriority(0, 19);
          const again = lowerAllThreads(6);
          console.log(JSON.stringify({ before, changed, after, later, again, main: getPriority(0) }));
          process.exit(0);
        });
      });`;
    const r = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 }).trim().split('\n').pop() ?? '') as Record<string, number[] | number>;
    const before = r['before'] as number[];
    expect(before.length).toBeGreaterThan(2);
    const lowered = (nices: number[]) => nices.every((n) => n >= 6);
    if (before.some((n) => n < 6)) expect(r['changed']).toBe(before.filter((n) => n < 6).length);
    expect(lowered(r['after'] as number[])).toBe(true);
    expect((r['later'] as number[]).length).toBeGreaterThan((r['after'] as number[]).length);
    expect(lowered(r['later'] as number[])).toBe(true);
    // The main thread, lowered further by hand, is not raised back.
    expect(r['main']).toBe(19);
    expect(r['again']).toBe(0);
  }, 60_000);

  it('refuses a nice value out of range (1-19 below the model, 0-19 for all), changing nothing', () => {
    const before = getPriority(0);
    expect(() => lowerOtherThreads(0, 0)).toThrow(RangeError);
    expect(() => lowerOtherThreads(0, 20)).toThrow(/1 to 19/);
    expect(() => lowerOtherThreads(0, 2.5)).toThrow(RangeError);
    expect(() => lowerAllThreads(-1)).toThrow(/0 to 19/);
    expect(() => lowerAllThreads(20)).toThrow(RangeError);
    expect(getPriority(0)).toBe(before);
  });
});
