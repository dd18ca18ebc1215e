/**
 * Test helper, run as its own process (see https-model-server.ts): resolves a
 * model with the options given as JSON in argv[2], in a process whose trusted
 * CAs include the test server's (NODE_EXTRA_CA_CERTS is read at start only),
 * and prints `{ ok, source | error, logs }` as JSON on stdout.
 */
import { resolveModelSource, type ModelSourceOptions } from '../lib/model-source';

const logs: { level: string; msg: string; fields: object }[] = [];
resolveModelSource(JSON.parse(process.argv[2]) as ModelSourceOptions, {
  info: (fields, msg) => logs.push({ level: 'info', msg, fields }),
  warn: (fields, msg) => logs.push({ level: 'warn', msg, fields }),
}).then(
  (source) => console.log(JSON.stringify({ ok: true, source, logs })),
  (err: Error) => console.log(JSON.stringify({ ok: false, error: { name: err.name, message: err.message }, logs })),
);
