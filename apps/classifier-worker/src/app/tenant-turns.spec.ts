import { TenantTurns } from './tenant-turns';

/** Acquires for each tenant in order and records the order in which they get a place. */
function queueUp(turns: TenantTurns, tenants: string[]): string[] {
  const served: string[] = [];
  for (const [i, t] of tenants.entries()) void turns.acquire(t).then(() => served.push(`${t}${i}`));
  return served;
}

const settle = () => new Promise((r) => setImmediate(r));

describe('TenantTurns', () => {
  it('gives free places at once, then one place per release', async () => {
    const turns = new TenantTurns(2);
    const served = queueUp(turns, ['a', 'a', 'a']);
    await settle();
    expect(served).toEqual(['a0', 'a1']);
    turns.release();
    await settle();
    expect(served).toEqual(['a0', 'a1', 'a2']);
  });

  it('a tenant arriving behind another\'s backlog gets the next freed place, not the last', async () => {
    const turns = new TenantTurns(2);
    const served = queueUp(turns, ['a', 'a', 'a', 'a', 'a', 'a', 'b', 'b']);
    await settle();
    expect(served).toEqual(['a0', 'a1']);
    for (let i = 0; i < 6; i++) {
      turns.release();
      await settle();
    }
    // In turn: a (longest waiting), then b, a, b, then a's rest.
    expect(served).toEqual(['a0', 'a1', 'a2', 'b6', 'a3', 'b7', 'a4', 'a5']);
  });

  it('oldest first within a tenant; a released place with nobody waiting is free again', async () => {
    const turns = new TenantTurns(1);
    const served = queueUp(turns, ['x', 'x', 'y']);
    await settle();
    turns.release();
    turns.release();
    turns.release();
    await settle();
    expect(served).toEqual(['x0', 'x1', 'y2']);
    await turns.acquire('z');
    await expect(Promise.race([turns.acquire('z').then(() => 'got'), settle().then(() => 'waiting')])).resolves.toBe('waiting');
  });

  it('refuses a number of places that is not a whole number >= 1', () => {
    expect(() => new TenantTurns(0)).toThrow('places must be a whole number >= 1 (got 0)');
  });
});
