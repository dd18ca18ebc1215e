import { AnswerLedger } from './ledger';
import { awaitingResults, classicEntries, type StoredResult } from './ledger-classic';
import type { ClassicOutcome } from './service-client';

describe('AnswerLedger', () => {
  let now = 0;
  const ledger = () => new AnswerLedger(() => now);

  it('an image seen with one answer on every channel is answered once, at the first sighting', () => {
    const l = ledger();
    now = 10;
    l.accept('a', 'cat.jpg', 'batch');
    now = 20;
    l.see('a', 'sse', { status: 'ok', label: 'tabby', attempt: 1 });
    now = 30;
    l.see('a', 'rest-image', { status: 'ok', label: 'tabby', attempt: 1 });
    l.see('a', 'bucket', { status: 'ok', label: 'tabby', attempt: 1 });
    expect(l.answeredAt('a')).toBe(20);
    expect(l.summary()).toMatchObject({ accepted: 1, answered: 1, lost: 0, conflicting: 0, maxAttempts: 1 });
  });

  it('two different answers anywhere make the image conflicting, and say where each was seen', () => {
    const l = ledger();
    l.accept('a', 'cat.jpg', 'batch');
    l.see('a', 'sse', { status: 'error' });
    l.see('a', 'bucket', { status: 'ok', label: 'tabby', attempt: 3 });
    const s = l.summary();
    expect(s.conflicting).toBe(1);
    expect(s.conflicts[0]).toEqual({ imageId: 'a', fileName: 'cat.jpg', answers: ['sse=error', 'bucket=ok:tabby'] });
    expect(s.maxAttempts).toBe(3);
  });

  it('a result only in the bucket answers no user: the image is lost (REST said queued while S3 had it)', () => {
    const l = ledger();
    l.accept('a', 'cat.jpg', 'classic');
    l.see('a', 'bucket', { status: 'ok', label: 'tabby' });
    expect(l.isAnswered('a')).toBe(false);
    expect(l.summary()).toMatchObject({ answered: 0, lost: 1, lostImages: [{ imageId: 'a', fileName: 'cat.jpg' }] });
  });

  it('counts the images a user was answered with an error, not those answered with a label or not answered', () => {
    const l = ledger();
    for (const id of ['ok', 'err', 'lost']) l.accept(id, `${id}.jpg`, 'batch');
    l.see('ok', 'sse', { status: 'ok', label: 'tabby' });
    l.see('err', 'rest-image', { status: 'error', attempt: 3 });
    l.see('lost', 'bucket', { status: 'error' });
    expect(l.summary()).toMatchObject({ answered: 2, lost: 1, errorResults: 1 });
  });

  it('an answer for an image that was never accepted is a bug in the run, not a silent extra', () => {
    expect(() => ledger().see('nope', 'sse', { status: 'error' })).toThrow(/never accepted/);
  });

  it('counts one image sent once however many copies of it were stored, and loses it when a copy goes unanswered', () => {
    const l = ledger();
    l.accept('first', 'cat.jpg', 'classic', 'classic:cat.jpg');
    l.accept('second', 'cat.jpg', 'classic', 'classic:cat.jpg');
    l.accept('b', 'dog.jpg', 'batch');
    l.see('first', 'rest-image', { status: 'ok', label: 'tabby' });
    l.see('b', 'sse', { status: 'ok', label: 'beagle' });
    expect(l.summary()).toMatchObject({ accepted: 2, duplicates: 1, answered: 1, lost: 1, lostImages: [{ imageId: 'second', fileName: 'cat.jpg' }] });
    l.see('second', 'rest-image', { status: 'ok', label: 'tabby' });
    expect(l.summary()).toMatchObject({ accepted: 2, duplicates: 1, answered: 2, lost: 0, conflicting: 0 });
  });
});

describe('classic requests joined to the images they stored', () => {
  const stored = (imageId: string, fileName: string, label = 'tabby'): StoredResult => ({ imageId, fileName, status: 'ok', label, attempt: 1 });
  const outcomes = (entries: [string, ClassicOutcome][]) => new Map(entries);

  it('settles a request by the image its response named, not by its file name: a retried request cut after storing is one image, answered once', () => {
    // The tier that stored i-1 died (the balancer said 502); the retry with the key got i-1's label.
    // i-9 is another stored image of the same name that nobody's response named: it is left out of this request.
    const o = outcomes([['cat.jpg', { kind: 'answered', label: 'tabby', ms: 900, imageId: 'i-1' }]]);
    const entries = classicEntries(o, [stored('i-9', 'cat.jpg', 'lynx'), stored('i-1', 'cat.jpg')], (id) => id === 'i-9');
    expect(entries).toEqual([{ imageId: 'i-1', fileName: 'cat.jpg', request: 'classic:cat.jpg', response: { status: 'ok', label: 'tabby' }, stored: stored('i-1', 'cat.jpg') }]);
    expect(awaitingResults(o, entries)).toEqual([]);

    const l = new AnswerLedger(() => 0);
    for (const e of entries) {
      l.accept(e.imageId, e.fileName, 'classic', e.request);
      if (e.response) l.see(e.imageId, 'classic', e.response);
      if (e.stored) l.see(e.imageId, 'bucket', { status: e.stored.status, label: e.stored.label });
    }
    expect(l.summary()).toMatchObject({ accepted: 1, answered: 1, conflicting: 0, duplicates: 0 });
  });

  it('joins a request that never learnt its image to every stored copy of its name, picking none', () => {
    const o = outcomes([
      ['cat.jpg', { kind: 'cut', error: 'fetch failed', ms: 5000 }],
      ['dog.jpg', { kind: 'answered', label: 'beagle', ms: 800, imageId: 'd-1' }],
    ]);
    // d-1 is named by dog.jpg's response; a cat.jpg copy named by nobody is one of cat.jpg's, and so is the other.
    const entries = classicEntries(o, [stored('c-1', 'cat.jpg'), stored('c-2', 'cat.jpg'), stored('d-1', 'dog.jpg', 'beagle')]);
    expect(entries.filter((e) => e.request === 'classic:cat.jpg').map((e) => [e.imageId, e.response])).toEqual([
      ['c-1', undefined],
      ['c-2', undefined],
    ]);
    expect(entries.filter((e) => e.request === 'classic:dog.jpg').map((e) => e.imageId)).toEqual(['d-1']);
  });

  it('waits for the results of images named or possibly stored, not of a request refused for what it sent', () => {
    const o = outcomes([
      ['named.jpg', { kind: 'refused', status: 504, body: 'no result within 300 s', ms: 300_000, imageId: 'n-1' }],
      ['cut.jpg', { kind: 'cut', error: 'fetch failed', ms: 100 }],
      ['big.jpg', { kind: 'refused', status: 413, body: 'too large', ms: 10 }],
    ]);
    const none = classicEntries(o, []);
    expect(none.map((e) => e.imageId)).toEqual(['n-1', 'classic:cut.jpg', 'classic:big.jpg']);
    expect(awaitingResults(o, none)).toEqual(['named.jpg', 'cut.jpg']);
    expect(awaitingResults(o, classicEntries(o, [stored('n-1', 'named.jpg'), stored('c-1', 'cut.jpg')]))).toEqual([]);
  });
});
