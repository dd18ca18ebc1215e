export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/** Parses a text/event-stream body into events (the subset the server sends: event, id, data, comments). */
export async function* parseSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
      const ev: SseEvent = { event: 'message', data: '' };
      const data: string[] = [];
      for (const line of block.split(/\r?\n/)) {
        if (line === '' || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') ev.event = val;
        else if (field === 'data') data.push(val);
        else if (field === 'id') ev.id = val;
      }
      if (data.length === 0) continue;
      ev.data = data.join('\n');
      yield ev;
    }
  }
}

/**
 * Follows an event stream until its `done` event, across reconnects: the
 * server ends a stream after its maximum lifetime (or a proxy drops it), and
 * each reconnect sends `Last-Event-ID`, so the server sends only what was
 * missed. Gives up after `maxFailures` failed connections in a row.
 */
export async function* followSse(
  url: string,
  headers: Record<string, string> = {},
  options: { retryMs?: number; maxFailures?: number } = {},
): AsyncGenerator<SseEvent> {
  const retryMs = options.retryMs ?? 1000;
  const maxFailures = options.maxFailures ?? 5;
  let lastId: string | undefined;
  let failures = 0;
  for (;;) {
    let res: Response | undefined;
    try {
      res = await fetch(url, { headers: lastId ? { ...headers, 'Last-Event-ID': lastId } : headers });
    } catch (err) {
      if (++failures >= maxFailures) throw err;
    }
    if (res) {
      // A client error (bad id, wrong key) will not get better by retrying.
      if (res.status >= 400 && res.status < 500) throw new Error(`events: HTTP ${res.status}`);
      if (res.ok && res.body) {
        failures = 0;
        try {
          for await (const ev of parseSse(res.body)) {
            if (ev.id) lastId = ev.id;
            yield ev;
            if (ev.event === 'done') return;
          }
        } catch {
          // The connection dropped mid-stream: reconnect below.
        }
      } else if (++failures >= maxFailures) {
        throw new Error(`events: HTTP ${res.status}`);
      }
    }
    await new Promise((r) => setTimeout(r, retryMs));
  }
}
