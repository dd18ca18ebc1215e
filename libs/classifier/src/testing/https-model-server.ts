import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
 * runs unchanged, with TLS verification on.
 */
export function resolveInChild(options: ModelSourceOptions, cert: TestCertificate): Promise<ChildResult> {
  const script = join(__dirname, 'resolve-model.child.ts');
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--require', require.resolve('tsx/cjs'), script, JSON.stringify(options)],
      { env: { ...process.env, NODE_EXTRA_CA_CERTS: cert.caFile }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const line = stdout.trim().split('\n').at(-1) ?? '';
        try {
          resolve(JSON.parse(line) as ChildResult);
        } catch {
          reject(new Error(`the child process gave no result (${err?.message ?? 'no error'}):\n${stdout}\n${stderr}`));
        }
      },
    );
  });
}
