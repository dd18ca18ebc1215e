import { parseSse, SseParser, type SseEvent } from './sse';

/** Feeds the text to one parser in pieces cut at the given sizes (cycling), collecting the events. */
function parseInPieces(text: string, sizes: number[]): { events: SseEvent[]; parser: SseParser } {
  const parser = new SseParser();
  const events: SseEvent[] = [];
  let at = 0;
  for (let i = 0; at < text.length; i++) {
    const n = sizes[i % sizes.length];
    events.push(...parser.push(text.slice(at, at + n)));
    at += n;
  }
  events.push(...parser.end());
  return { events, parser };
}

function stream(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(c) {
      for (const ch of chunks) c.enqueue(typeof ch === 'string' ? new TextEncoder().encode(ch) : ch);
      c.close();
    },
  });
}

const SERVER_TEXT =
  'retry: 1000\n\n' +
  'event: result\nid: log1.1\ndata: {"imageId":"a","label":"tabby, tabby cat"}\n\n' +
  ': keep-alive\n\n' +
  'event: result\nid: log1.2\ndata: {"imageId":"b"}\n\n' +
  'event: done\ndata: {"total":2}\n\n';

const EXPECTED: SseEvent[] = [
  { event: 'result', id: 'log1.1', data: '{"imageId":"a","label":"tabby, tabby cat"}' },
  { event: 'result', id: 'log1.2', data: '{"imageId":"b"}' },
  { event: 'done', data: '{"total":2}' },
];

describe('SseParser', () => {
  it.each([[[1]], [[2, 3]], [[7]], [[1000]]])('gives the same events whatever the chunk boundaries (pieces of %j)', (sizes) => {
    const { events, parser } = parseInPieces(SERVER_TEXT, sizes);
    expect(events).toEqual(EXPECTED);
    expect(parser.lastEventId).toBe('log1.2');
    expect(parser.retryMs).toBe(1000);
  });

  it('accepts CRLF and lone CR line ends, also with a CRLF split between chunks', () => {
    const crlf = SERVER_TEXT.replace(/\n/g, '\r\n');
    expect(parseInPieces(crlf, [1]).events).toEqual(EXPECTED);
    expect(parseInPieces(crlf, [5, 4]).events).toEqual(EXPECTED);
    expect(parseInPieces(SERVER_TEXT.replace(/\n/g, '\r'), [3]).events).toEqual(EXPECTED);
  });

  it('joins multi-line data with newlines, keeps spaces after the first, and treats a bare field as empty', () => {
    const { events } = parseInPieces('data: line one\ndata:  two\ndata\ndata:last\n\n', [4]);
    expect(events).toEqual([{ event: 'message', data: 'line one\n two\n\nlast' }]);
  });

  it('skips comments, unknown fields and blocks without data; ignores a bad retry and an id with NUL', () => {
    const parser = new SseParser();
    const events = parser.push(': hello\nfoo: bar\n\nid: 7\n\nretry: soon\n\nid: x\0y\nevent: e\ndata: d\n\n');
    expect(events).toEqual([{ event: 'e', data: 'd' }]);
    // A block with only an id still sets what a reconnect sends back.
    expect(parser.lastEventId).toBe('7');
    expect(parser.retryMs).toBeUndefined();
  });

  it('resets the event type after each event and keeps the last id across blocks', () => {
    const parser = new SseParser();
    expect(parser.push('event: result\nid: 1\ndata: a\n\ndata: b\n\n')).toEqual([
      { event: 'result', id: '1', data: 'a' },
      { event: 'message', data: 'b' },
    ]);
    expect(parser.lastEventId).toBe('1');
  });

  it('strips a byte-order mark at the start of the stream only', () => {
    expect(new SseParser().push('\uFEFFdata: x\n\n')).toEqual([{ event: 'message', data: 'x' }]);
  });
});

describe('parseSse', () => {
  it('decodes UTF-8 split inside a character and drops an event the stream cut off', async () => {
    const bytes = new TextEncoder().encode('data: café ☕\n\ndata: never finished');
    const cut = bytes.indexOf(0xe2) + 1; // inside the three bytes of ☕
    const got: SseEvent[] = [];
    for await (const ev of parseSse(stream([bytes.slice(0, cut), bytes.slice(cut)]))) got.push(ev);
    expect(got).toEqual([{ event: 'message', data: 'café ☕' }]);
  });

  it('cancels the body when the reader stops early', async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode('event: done\ndata: {}\n\n'));
      },
      cancel() {
        cancelled = true;
      },
    });
    for await (const ev of parseSse(body)) {
      expect(ev.event).toBe('done');
      break;
    }
    expect(cancelled).toBe(true);
  });
});
