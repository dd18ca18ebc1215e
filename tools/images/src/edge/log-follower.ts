import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

/**
 * Copies what is appended to the `*.log` files of a folder to `log`, a line at a time, each
 * prefixed with its file's name: the EC2 stand-in writes one log per instance, and a container's
 * logs belong on its stdout.
 */
export function followLogs(dir: string, log: (line: string) => void, intervalMs = 500): { stop(): void } {
  const offsets = new Map<string, { offset: number; partial: string }>();
  const poll = () => {
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.log'));
    } catch {
      return;
    }
    for (const name of names) {
      const file = join(dir, name);
      const state = offsets.get(file) ?? { offset: 0, partial: '' };
      offsets.set(file, state);
      const size = statSync(file).size;
      if (size <= state.offset) continue;
      const buf = Buffer.alloc(size - state.offset);
      const fd = openSync(file, 'r');
      try {
        readSync(fd, buf, 0, buf.length, state.offset);
      } finally {
        closeSync(fd);
      }
      state.offset = size;
      const lines = (state.partial + buf.toString('utf8')).split('\n');
      state.partial = lines.pop() ?? '';
      const prefix = basename(name, '.log');
      for (const line of lines) log(`[${prefix}] ${line}`);
    }
  };
  const timer = setInterval(poll, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      poll();
    },
  };
}
