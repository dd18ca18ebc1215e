import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * TEST DOUBLE of AWS Systems Manager Parameter Store, for tests only: no SSM emulator
 * installs offline, so this speaks the real wire protocol (AWS JSON 1.1 over HTTP,
 * errors as `{ "__type": ..., "message": ... }`) on 127.0.0.1 for the two calls the
 * apps make: `GetParametersByPath` (configuration, paged by NextToken) and
 * `GetParameter` of a Secrets Manager secret through `/aws/reference/secretsmanager/<id>`.
 * The real SDK client talks to it unchanged, signature and all (the signature is not checked).
 */
export interface SsmDouble {
  endpoint: string;
  /** Each request's target, JSON body and the access key id it was signed with, in order. */
  requests: { target: string; body: Record<string, unknown>; accessKeyId?: string }[];
  /** Parameters by full name; change them between requests like an operator would. */
  parameters: Map<string, string>;
  /** Secrets Manager secret values by secret id, read through the SSM reference path. */
  secrets: Map<string, string>;
  /** Make every request fail with this error type (e.g. AccessDeniedException) until cleared. */
  failWith?: string;
  close(): Promise<void>;
}

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (s += c));
    req.on('end', () => resolve(s));
    req.on('error', reject);
  });

const SECRET_REFERENCE = '/aws/reference/secretsmanager/';

function getSecret(double: SsmDouble, body: Record<string, unknown>): [number, unknown] {
  const name = String(body['Name'] ?? '');
  const id = name.startsWith(SECRET_REFERENCE) ? name.slice(SECRET_REFERENCE.length) : undefined;
  if (id !== undefined && body['WithDecryption'] !== true) {
    // What SSM says for a Secrets Manager reference read without decryption.
    return [400, { __type: 'ValidationException', message: 'WithDecryption flag must be True for retrieving a Secret Manager secret.' }];
  }
  const value = id === undefined ? undefined : double.secrets.get(id);
  if (value === undefined) return [400, { __type: 'ParameterNotFound', message: `Parameter ${name} not found. (test double)` }];
  return [
    200,
    {
      Parameter: {
        Name: name,
        Type: 'SecureString',
        Value: value,
        Version: 1,
        SourceResult: JSON.stringify({ Name: id, SecretString: value }),
        ARN: `arn:aws:ssm:us-east-1:123456789012:parameter${name}`,
      },
    },
  ];
}

export async function startSsmDouble(parameters: Record<string, string> = {}, pageSize = 10, secrets: Record<string, string> = {}): Promise<SsmDouble> {
  const double: SsmDouble = {
    endpoint: '',
    requests: [],
    parameters: new Map(Object.entries(parameters)),
    secrets: new Map(Object.entries(secrets)),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
  const send = (res: import('node:http').ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(JSON.stringify(body));
  };
  const server: Server = createServer((req, res) => {
    void readBody(req).then((raw) => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      const accessKeyId = /Credential=([^/,\s]+)\//.exec(String(req.headers['authorization'] ?? ''))?.[1];
      double.requests.push({ target, body, accessKeyId });
      if (double.failWith) return send(res, 400, { __type: double.failWith, message: `${double.failWith} (test double)` });
      if (target === 'AmazonSSM.GetParameter') return send(res, ...getSecret(double, body));
      if (target !== 'AmazonSSM.GetParametersByPath') {
        return send(res, 400, { __type: 'InvalidAction', message: `the test double does not serve ${target}` });
      }
      const path = String(body['Path']);
      const recursive = body['Recursive'] === true;
      const names = [...double.parameters.keys()]
        .filter((n) => n.startsWith(path) && (recursive || !n.slice(path.length).includes('/')))
        .sort();
      const start = body['NextToken'] ? Number(body['NextToken']) : 0;
      const max = Math.min(Number(body['MaxResults'] ?? pageSize), pageSize);
      const page = names.slice(start, start + max);
      send(res, 200, {
        Parameters: page.map((Name) => ({ Name, Type: 'String', Value: double.parameters.get(Name), Version: 1 })),
        ...(start + max < names.length ? { NextToken: String(start + max) } : {}),
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  double.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return double;
}
