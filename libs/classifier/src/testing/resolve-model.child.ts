/**
 * Test helper, run as its own process (see https-model-server.ts): resolves
 * models in a process whose trusted CAs include the test server's
 * (NODE_EXTRA_CA_CERTS is read at start only). One request a line on stdin,
 * `{ id, options }`; one answer a line on stdout, `{ id, ok, source | error, logs }`.
 * It exits when stdin ends, so it never outlives the test file that started it.
 */
import { createInterface } from 'node:readline';
import { resolveModelSource, type ModelSourceOptions } from '../lib/model-source';

const answer = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);

createInterface({ input: process.stdin }).on('line', (line) => {
  const { id, options } = JSON.parse(line) as { id: number; options: ModelSourceOptions };
  const logs: { level: string; msg: string; fields: object }[] = [];
  resolveModelSource(options, {
    info: (fields, msg) => logs.push({ level: 'info', msg, fields }),
    warn: (fields, msg) => logs.push({ level: 'warn', msg, fields }),
  }).then(
    (source) => answer({ id, ok: true, source, logs }),
    (err: Error) => answer({ id, ok: false, error: { name: err.name, message: err.message }, logs }),
  );
});
process.stdin.on('end', () => process.exit(0));
