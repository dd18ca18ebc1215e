import { SeenPlaces } from './seen-places';

const seenOf = (s: SeenPlaces) => Array.from({ length: s.size }, (_, p) => p).filter((p) => s.has(p));

describe('SeenPlaces: the SSE id that names what a client has been sent', () => {
  it('reads back exactly the places written, in whatever order they were added', () => {
    const s = new SeenPlaces(40);
    for (const p of [7, 0, 1, 33, 2, 39, 20]) s.add(p);
    const id = s.toString();
    expect(id).toMatch(/^s3\.[A-Za-z0-9_-]+$/);
    expect(seenOf(SeenPlaces.parse(id, 40))).toEqual([0, 1, 2, 7, 20, 33, 39]);
  });

  it('stays short while results come in order: a prefix count, no bitmap', () => {
    const s = new SeenPlaces(1000);
    for (let p = 0; p < 600; p++) s.add(p);
    expect(s.toString()).toBe('s600.');
    for (let p = 600; p < 1000; p++) s.add(p);
    expect(s.toString()).toBe('s1000.');
    expect(seenOf(SeenPlaces.parse('s1000.', 1000))).toHaveLength(1000);
  });

  it('nothing is seen for no id, an id of another format, or one too long to be ours', () => {
    for (const id of [undefined, '', 'Ab3_xYz1.2', 'snapshot.3', 's12', 's1.!!', `s0.${'A'.repeat(20_000)}`]) {
      expect(seenOf(SeenPlaces.parse(id, 10))).toEqual([]);
    }
  });

  it('ignores places beyond the batch it is read for', () => {
    const big = new SeenPlaces(64);
    for (const p of [1, 5, 60]) big.add(p);
    expect(seenOf(SeenPlaces.parse(big.toString(), 8))).toEqual([1, 5]);
    expect(seenOf(SeenPlaces.parse('s99.', 8))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});
