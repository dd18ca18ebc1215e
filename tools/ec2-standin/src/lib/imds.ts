import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StandInInstance } from './instances';

/** Where an instance's metadata service lives on the stand-in: one path prefix per instance. */
export const IMDS_PREFIX = '/imds/';

/**
 * An IMDSv2 stand-in for every instance, told apart by the path prefix
 * `/imds/<instance-id>/` (the instance's AWS_EC2_METADATA_SERVICE_ENDPOINT):
 * PUT /latest/api/token with a TTL header gives a session token; GETs need it.
 * POST /_standin/shutdown is the instance's `shutdown` command (see the shim).
 */
export class MetadataService {
  private readonly tokens = new Map<string, { instanceId: string; expires: number }>();

  constructor(
    private readonly lookup: (id: string) => StandInInstance | undefined,
    private readonly zone: string,
    private readonly region: string,
    private readonly powerOff: (id: string, why: string) => boolean,
  ) {}

  handle(req: IncomingMessage, res: ServerResponse, path: string): void {
    const m = /^\/imds\/(i-[0-9a-f]+)(\/.*)$/.exec(path);
    const instance = m ? this.lookup(m[1]) : undefined;
    // An instance that is not running has no metadata service to answer.
    if (!m || !instance || (instance.state !== 'running' && instance.state !== 'shutting-down' && instance.state !== 'stopping')) {
      return send(res, 404, 'Not Found');
    }
    const sub = m[2];
    if (sub === '/_standin/shutdown' && req.method === 'POST') {
      return send(res, this.powerOff(instance.id, 'the instance ran shutdown') ? 200 : 409, 'ok');
    }
    if (sub === '/latest/api/token') {
      if (req.method !== 'PUT') return send(res, 405, 'Method Not Allowed');
      const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) return send(res, 400, 'Bad Request');
      const token = randomBytes(32).toString('base64');
      this.tokens.set(token, { instanceId: instance.id, expires: Date.now() + ttl * 1000 });
      res.setHeader('X-aws-ec2-metadata-token-ttl-seconds', String(ttl));
      return send(res, 200, token);
    }
    if (req.method !== 'GET') return send(res, 405, 'Method Not Allowed');
    const header = req.headers['x-aws-ec2-metadata-token'];
    const session = typeof header === 'string' ? this.tokens.get(header) : undefined;
    if (!session || session.instanceId !== instance.id || session.expires < Date.now()) return send(res, 401, 'Unauthorized');
    const value = this.value(instance, sub);
    if (value === undefined) return send(res, 404, 'Not Found');
    send(res, 200, value);
  }

  private value(i: StandInInstance, path: string): string | undefined {
    const values: Record<string, string> = {
      '/latest/meta-data/instance-id': i.id,
      '/latest/meta-data/ami-id': i.imageId,
      '/latest/meta-data/instance-type': i.instanceType,
      '/latest/meta-data/local-ipv4': i.privateIp,
      '/latest/meta-data/placement/availability-zone': this.zone,
      '/latest/meta-data/placement/region': this.region,
      '/latest/meta-data/reservation-id': i.reservationId,
      '/latest/dynamic/instance-identity/document': JSON.stringify({
        instanceId: i.id,
        imageId: i.imageId,
        instanceType: i.instanceType,
        availabilityZone: this.zone,
        region: this.region,
        privateIp: i.privateIp,
        pendingTime: i.launchTime.toISOString(),
      }),
    };
    if (path === '/latest/meta-data/' || path === '/latest/meta-data') {
      return ['ami-id', 'instance-id', 'instance-life-cycle', 'instance-type', 'local-ipv4', 'placement/', 'reservation-id', ...(i.interruption ? ['spot/'] : [])].join('\n');
    }
    if (path === '/latest/meta-data/instance-life-cycle') return i.market;
    // Absent (404) until EC2 decides to interrupt, as on AWS; then the action and its time, to the second.
    if (path === '/latest/meta-data/spot/instance-action') {
      return i.interruption && JSON.stringify({ action: i.interruption.action, time: isoSeconds(i.interruption.at) });
    }
    if (path === '/latest/meta-data/spot/termination-time') return i.interruption && isoSeconds(i.interruption.at);
    if (path === '/latest/user-data') {
      // What the template's user data wrote into the worker's env files.
      return i.workerEnv ? Object.entries(i.workerEnv).map(([k, v]) => `${k}=${v}`).join('\n') : undefined;
    }
    return values[path];
  }
}

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function send(res: ServerResponse, status: number, body: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain');
  res.end(body);
}
