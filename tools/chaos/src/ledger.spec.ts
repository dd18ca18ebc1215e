import { AnswerLedger } from './ledger';

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
});
