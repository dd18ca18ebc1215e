import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { HEAP_GROWING_PERCENT, paceFullCollections } from './heap-pacing';

describe('paceFullCollections: the heap growing factor set at start', () => {
  it("sets V8's heap growing percent when Node was given none", () => {
    const set: string[] = [];
    expect(paceFullCollections({ execArgv: ['--enable-source-maps'], nodeOptions: '--max-old-space-size=2048', setFlags: (f) => set.push(f) })).toBe(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
    expect(set).toEqual([`--heap-growing-percent=${HEAP_GROWING_PERCENT}`]);
  });

  it.each([
    ['the command line', { execArgv: ['--heap-growing-percent=50'], nodeOptions: '' }],
    ['NODE_OPTIONS', { execArgv: [], nodeOptions: '--trace-gc --heap_growing_percent=50' }],
    ['NODE_OPTIONS, the value apart', { execArgv: [], nodeOptions: '--heap-growing-percent 50' }],
  ])("leaves a factor given on %s to Node's own", (_where, given) => {
    const set: string[] = [];
    expect(paceFullCollections({ ...given, setFlags: (f) => set.push(f) })).toBeUndefined();
    expect(set).toEqual([]);
  });

  it('is a flag this Node knows (V8 names an unknown one on stderr and goes on without it)', () => {
    const tsx = require.resolve('tsx/cjs/api');
    const script = `require(${JSON.stringify(tsx)}).register(); const { paceFullCollections } = require(${JSON.stringify(join(__dirname, 'heap-pacing.ts'))}); console.log(paceFullCollections({ execArgv: [], nodeOptions: '' }));`;
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(child.stderr).not.toMatch(/unrecognized flag/);
    expect(child.status).toBe(0);
    expect(child.stdout.trim()).toBe(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  });
});
