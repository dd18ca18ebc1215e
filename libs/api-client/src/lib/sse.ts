/**
 * The one reader of `text/event-stream` in the project (the page, the CLI, the
 * load generator and the chaos tools all use it). It follows the WHATWG
 * "server-sent events" parsing rules, so it runs the same in a browser and in
 * Node, and it reads through fetch (not EventSource) so that an API key can
 * travel in a header.
 */
export interface SseEvent {
  /** The `event:` field; `message` when the block has none. */
  event: string;
  /** The `data:` lines joined with newlines. */
  data: string;
  /** The `id:` field of this block, when it had one. */
  id?: string;
}

/**
 * Incremental parser: feed it decoded text in chunks of any size (a line, a
 * field or a CRLF may be split between chunks) and it returns the events that
 * became complete. Comments (`:` lines) are skipped; `retry:` updates
 * `retryMs`; `id:` updates `lastEventId` (what a reconnect sends back).
 */
export class SseParser {
  lastEventId = '';
  retryMs: number | undefined;
  private buffer = '';
  private started = false;
  private eventType = '';
  private data: string[] = [];
  private blockId: string | undefined;

  push(text: string): SseEvent[] {
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    this.buffer += text;
    const out: SseEvent[] = [];
    let start = 0;
    for (;;) {
      const lf = this.buffer.indexOf('\n', start);
      const cr = this.buffer.indexOf('\r', start);
      let end: number;
      let next: number;
      if (cr >= 0 && (lf < 0 || cr < lf)) {
        // A CR at the very end may be the first half of a CRLF still on its way.
        if (cr === this.buffer.length - 1) break;
        end = cr;
        next = this.buffer[cr + 1] === '\n' ? cr + 2 : cr + 1;
      } else if (lf >= 0) {
        end = lf;
        next = lf + 1;
      } else {
        break;
      }
      const ev = this.line(this.buffer.slice(start, end));
      if (ev) out.push(ev);
      start = next;
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  /**
   * The stream ended: a CR held back as a possible half of a CRLF was a line
   * end after all. Whatever is left is an unfinished event, dropped.
   */
  end(): SseEvent[] {
    const out = this.buffer.endsWith('\r') ? this.push('\n') : [];
    this.buffer = '';
    this.data = [];
    this.eventType = '';
    this.blockId = undefined;
    return out;
  }

  private line(line: string): SseEvent | undefined {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        // An id with a NUL is ignored, as the standard says.
        if (!value.includes('\0')) {
          this.lastEventId = value;
          this.blockId = value;
        }
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        break; // unknown fields are ignored
    }
    return undefined;
  }

  private dispatch(): SseEvent | undefined {
    const data = this.data;
    const ev: SseEvent = { event: this.eventType || 'message', data: data.join('\n') };
    if (this.blockId !== undefined) ev.id = this.blockId;
    this.data = [];
    this.eventType = '';
    this.blockId = undefined;
    // A block without data (e.g. only `retry:` or `id:`) is not an event.
    return data.length > 0 ? ev : undefined;
  }
}

/**
 * The events of one response body, as they arrive. An event cut off by the
 * end of the stream (no blank line after it) is dropped, as the standard says.
 */
export async function* parseSse(body: ReadableStream<Uint8Array>, parser = new SseParser()): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        yield* parser.push(decoder.decode());
        yield* parser.end();
        return;
      }
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
  } finally {
    // Leaving early (a `done` event, an abort) must not leave the connection open.
    await reader.cancel().catch(() => undefined);
  }
}
