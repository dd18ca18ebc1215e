import { DeferredLogger, type ClassifierLogger } from './logger';

function recorder(): ClassifierLogger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (fields, message) => lines.push(`info ${message} ${JSON.stringify(fields)}`),
    warn: (fields, message) => lines.push(`warn ${message} ${JSON.stringify(fields)}`),
  };
}

describe('DeferredLogger', () => {
  it('holds lines until a logger is attached, writes them to it in order, then writes straight through', () => {
    const log = new DeferredLogger();
    log.info({ a: 1 }, 'first');
    log.warn({ b: 2 }, 'second');
    const target = recorder();
    log.attach(target);
    expect(target.lines).toEqual(['info first {"a":1}', 'warn second {"b":2}']);
    log.info({}, 'third');
    expect(target.lines).toHaveLength(3);
    expect(target.lines[2]).toBe('info third {}');
  });

  it('keeps at most 200 lines before it is attached, dropping the oldest', () => {
    const log = new DeferredLogger();
    for (let i = 0; i < 250; i++) log.info({ i }, 'line');
    const target = recorder();
    log.attach(target);
    expect(target.lines).toHaveLength(200);
    expect(target.lines[0]).toBe('info line {"i":50}');
  });
});
