import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * TEST DOUBLE of AWS Systems Manager's GetParameter, for tests only: no SSM
 * emulator installs offline, so this speaks the real wire protocol (AWS JSON
 * 1.1 over HTTP, `X-Amz-Target: AmazonSSM.GetParameter`, errors as
 * `{ "__type": ..., "message": ... }`) on 127.0.0.1 for the one call the web
 * tier makes: reading a Secrets Manager secret through
 * `/aws/reference/secretsmanager/<id>`. The real SDK client talks to it
 * unchanged (the signature is not checked).
 */
export interface SsmSecretsDouble {
  endpoint: string;
  /** Secret values by secret id. */
  secrets: Map<string, string>;
  /** Each request's target and JSON body, in order. */
  requests: { target: string; body: Record<string, unknown> }[];
  close(): Promise<void>;
}

const REFERENCE = '/aws/reference/secretsmanager/';

export async function startSsmSecretsDouble(secrets: Record<string, string> = {}): Promise<SsmSecretsDouble> {
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(JSON.stringify(body));
  };
  const double: SsmSecretsDouble = {
    endpoint: '',
    secrets: new Map(Object.entries(secrets)),
    requests: [],
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      double.requests.push({ target, body });
      if (target !== 'AmazonSSM.GetParameter') return send(res, 400, { __type: 'InvalidAction', message: `the test double does not serve ${target}` });
      const name = String(body['Name'] ?? '');
      const id = name.startsWith(REFERENCE) ? name.slice(REFERENCE.length) : undefined;
      if (id !== undefined && body['WithDecryption'] !== true) {
        // What SSM says for a Secrets Manager reference read without decryption.
        return send(res, 400, { __type: 'ValidationException', message: 'WithDecryption flag must be True for retrieving a Secret Manager secret.' });
      }
      const value = id === undefined ? undefined : double.secrets.get(id);
      if (value === undefined) return send(res, 400, { __type: 'ParameterNotFound', message: `Parameter ${name} not found. (test double)` });
      send(res, 200, {
        Parameter: {
          Name: name,
          Type: 'SecureString',
          Value: value,
          Version: 1,
          SourceResult: JSON.stringify({ Name: id, SecretString: value }),
          ARN: `arn:aws:ssm:us-east-1:123456789012:parameter${name}`,
        },
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  double.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return double;
}
