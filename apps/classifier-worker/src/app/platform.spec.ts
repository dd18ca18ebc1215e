import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateTagsCommand, EC2Client, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { WORKER_STATE_TAG, isWorkerStatusMessage } from '@app/contracts';
import { recordingLogger } from '../../test/worker-test-kit';
import { Ec2Platform, fetchInstanceId, LocalPlatform } from './platform';

describe('LocalPlatform', () => {
  it('reports each state over the IPC channel as a WorkerStatusMessage', () => {
    const sent: unknown[] = [];
    const p = new LocalPlatform('local-3', { send: (m: unknown) => (sent.push(m), true), connected: true } as never);
    p.reportState('starting', 0);
    p.reportState('busy', 4);
    expect(sent).toHaveLength(2);
    expect(sent.every(isWorkerStatusMessage)).toBe(true);
    expect(sent[1]).toMatchObject({ type: 'worker-status', workerId: 'local-3', state: 'busy', imagesDone: 4, at: expect.any(String) });
  });

  it('is quiet without an IPC channel, or when the parent has gone', () => {
    expect(() => new LocalPlatform('local-1', { send: undefined, connected: false } as never).reportState('free', 0)).not.toThrow();
    const throwing = {
      send: () => {
        throw new Error('ERR_IPC_CHANNEL_CLOSED');
      },
      connected: true,
    };
    expect(() => new LocalPlatform('local-1', throwing as never).reportState('free', 0)).not.toThrow();
  });
});

/** A fake instance metadata service (IMDSv2: token first). */
async function fakeImds(instanceId = 'i-0123456789abcdef0') {
  const requests: { method?: string; url?: string; headers: IncomingMessage['headers'] }[] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method, url: req.url, headers: req.headers });
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      res.end('TOKEN-123');
    } else if (req.method === 'GET' && req.url === '/latest/meta-data/instance-id') {
      if (req.headers['x-aws-ec2-metadata-token'] !== 'TOKEN-123') {
        res.statusCode = 401;
        res.end();
      } else res.end(instanceId);
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('fetchInstanceId (IMDSv2)', () => {
  it('gets a session token, then the instance id with it', async () => {
    const imds = await fakeImds();
    try {
      expect(await fetchInstanceId(imds.endpoint)).toBe('i-0123456789abcdef0');
      expect(imds.requests[0]).toMatchObject({ method: 'PUT', url: '/latest/api/token' });
      expect(imds.requests[0].headers['x-aws-ec2-metadata-token-ttl-seconds']).toBe('21600');
      expect(imds.requests[1]).toMatchObject({ method: 'GET', url: '/latest/meta-data/instance-id' });
    } finally {
      await imds.close();
    }
  });

  it('says where it looked when there is no metadata service', async () => {
    const imds = await fakeImds();
    await imds.close();
    await expect(fetchInstanceId(imds.endpoint, 2, 500)).rejects.toThrow(
      `cannot read the instance id from the instance metadata service at ${imds.endpoint}`,
    );
  });

  it('refuses an answer that is not an instance id', async () => {
    const imds = await fakeImds('<html>captive portal</html>');
    try {
      await expect(fetchInstanceId(imds.endpoint, 1)).rejects.toThrow(/unexpected answer/);
    } finally {
      await imds.close();
    }
  });
});

describe('Ec2Platform', () => {
  const ec2 = mockClient(EC2Client);
  beforeEach(() => ec2.reset());
  const id = 'i-0123456789abcdef0';

  it('tags its own instance with each state, one call at a time, the latest state winning', async () => {
    ec2.on(CreateTagsCommand).resolves({});
    const p = new Ec2Platform(id, new EC2Client({ region: 'us-east-1' }), recordingLogger().log);
    p.reportState('starting');
    await new Promise((resolve) => setImmediate(resolve)); // the first tag is on its way
    p.reportState('free');
    p.reportState('busy');
    await p.flush();
    const calls = ec2.commandCalls(CreateTagsCommand).map((c) => c.args[0].input);
    expect(calls[0]).toEqual({ Resources: [id], Tags: [{ Key: WORKER_STATE_TAG, Value: 'starting' }] });
    // 'free' was overtaken by 'busy' while the first call was in flight.
    expect(calls.map((c) => c.Tags?.[0].Value)).toEqual(['starting', 'busy']);
  });

  it('makes the EC2 client only for its first tag, after a turn of the event loop (not on the way to loading the model)', async () => {
    ec2.on(CreateTagsCommand).resolves({});
    const make = jest.fn(() => new EC2Client({ region: 'us-east-1' }));
    const p = new Ec2Platform(id, make, recordingLogger().log);
    p.reportState('starting');
    expect(make).not.toHaveBeenCalled();
    await p.flush();
    expect(make).toHaveBeenCalled();
    expect(ec2.commandCalls(CreateTagsCommand).map((c) => c.args[0].input.Tags?.[0].Value)).toEqual(['starting']);
  });

  it('when idle, sends its last state tag and leaves the instance to power off: it never calls TerminateInstances', async () => {
    const { log, lines } = recordingLogger();
    const p = new Ec2Platform(id, new EC2Client({ region: 'us-east-1' }), log);
    p.reportState('stopping');
    await p.terminateSelf();
    expect(ec2.commandCalls(CreateTagsCommand).at(-1)?.args[0].input).toEqual({ Resources: [id], Tags: [{ Key: WORKER_STATE_TAG, Value: 'stopping' }] });
    expect(ec2.commandCalls(TerminateInstancesCommand)).toHaveLength(0);
    expect(lines.at(-1)?.msg).toMatch(/instance powers off/);
  });
});
