import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ModelSource, ModelSourceOptions } from '../lib/model-source';

/** A certificate for 127.0.0.1 / localhost, made for one test run (never a fixed key in the repository). */
export interface TestCertificate {
  key: string;
  cert: string;
  /** A PEM file with the certificate, for NODE_EXTRA_CA_CERTS. */
  caFile: string;
}

export async function makeTestCertificate(): Promise<TestCertificate> {
  // selfsigned 5 makes the key and certificate with Node's WebCrypto.
  const selfsigned = (await import('selfsigned')) as unknown as {
    generate(attrs: { name: string; value: string }[], options: object): Promise<{ private: string; cert: string }>;
  };
  const pems = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], { keySize: 2048, algorithm: 'sha256' });
  const caFile = join(mkdtempSync(join(tmpdir(), 'test-ca-')), 'ca.pem');
  writeFileSync(caFile, pems.cert);
  return { key: pems.private, cert: pems.cert, caFile };
}

export type Route = (req: IncomingMessage, res: ServerResponse) => void;

export interface HttpsModelServer {
  /** https://127.0.0.1:<port> */
  origin: string;
  /** Paths requested, in order. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * An HTTPS server on 127.0.0.1 (a free port): each request path is looked up
 * in `routes`, else in `files` (path -> bytes), else 404.
 */
export function startHttpsModelServer(
  cert: TestCertificate,
  files: Record<string, Buffer>,
  routes: Record<string, Route> = {},
): Promise<HttpsModelServer> {
  const requests: string[] = [];
  const server: Server = createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    requests.push(path);
    const route = routes[path];
    if (route) return route(req, res);
    const body = files[path];
    if (!body) {
      res.statusCode = 404;
      res.end('not found');
      return;
    }
    res.end(body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        origin: `https://127.0.0.1:${port}`,
        requests,
        close: () =>
          new Promise((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}

/** The files of a model folder, served under `prefix` (e.g. /models/m/). */
export function modelFiles(dir: string, names: string[], prefix: string): Record<string, Buffer> {
  return Object.fromEntries(names.map((n) => [`${prefix}${n}`, readFileSync(join(dir, n))]));
}

export type ChildResult =
  | { ok: true; source: ModelSource; logs: { level: string; msg: string }[] }
  | { ok: false; error: { name: string; message: string }; logs: { level: string; msg: string }[] };

/**
 * resolveModelSource in a child process that trusts the test certificate
 * (NODE_EXTRA_CA_CERTS), as a worker would trust a real CA: the production code
 * runs unchanged, with TLS verification on. One child per test file and
 * certificate, started on first use (each start loads the library again, seconds
 * of CPU); stopModelResolver() ends it.
 */
export function resolveInChild(options: ModelSourceOptions, cert: TestCertificate): Promise<ChildResult> {
  if (resolver?.caFile !== cert.caFile) {
    stopModelResolver();
    resolver = startResolver(cert.caFile);
  }
  const { child, waiting } = resolver;
  const id = ++requests;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiting.delete(id);
      reject(new Error(`the model resolver gave no answer within 60 s:\n${resolver?.stderr() ?? ''}`));
    }, 60_000);
    waiting.set(id, {
      resolve: (r) => {
        clearTimeout(timer);
        resolve(r);
      },
      reject: (e) => {
        clearTimeout(timer);
        reject(e);
      },
    });
    child.stdin?.write(`${JSON.stringify({ id, options })}\n`);
  });
}

/** Ends the resolver child, if one runs (call from afterAll). */
export function stopModelResolver(): void {
  resolver?.child.stdin?.end();
  resolver = undefined;
}

interface Waiter {
  resolve(r: ChildResult): void;
  reject(e: Error): void;
}

let requests = 0;
let resolver: { caFile: string; child: ChildProcess; waiting: Map<number, Waiter>; stderr(): string } | undefined;

function startResolver(caFile: string): NonNullable<typeof resolver> {
  const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), join(__dirname, 'resolve-model.child.ts')], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const waiting = new Map<number, Waiter>();
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    let answer: ChildResult & { id: number };
    try {
      answer = JSON.parse(line) as ChildResult & { id: number };
    } catch {
      return; // not an answer: a library's own output
    }
    const { id, ...result } = answer;
    waiting.get(id)?.resolve(result as ChildResult);
    waiting.delete(id);
  });
  child.once('exit', (code, signal) => {
    for (const w of waiting.values()) w.reject(new Error(`the model resolver exited (${signal ?? `code ${code}`}):\n${stderr}`));
    waiting.clear();
  });
  return { caFile, child, waiting, stderr: () => stderr };
}
