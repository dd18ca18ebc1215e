import type { SupervisedApp } from './supervisor';
import { MAX_COPIES, serviceLines, topologyOf } from './topology';

const app = {} as SupervisedApp;
const copies = (ports: number[]) => ports.map((p, i) => ({ n: i + 1, url: `http://127.0.0.1:${p}`, app }));
const system = (webTiers: number[], launchers: number[], ec2?: string) => ({
  webUrl: 'http://127.0.0.1:3000',
  webTiers: copies(webTiers),
  launchControllers: copies(launchers),
  logDir: '/run/logs',
  fleetDir: '/run/fleet',
  aws: { endpoint: 'http://127.0.0.1:4566' },
  ...(ec2 ? { ec2: { endpoint: ec2 } } : {}),
});

describe('WEB_TIERS and CONTROL_PLANES', () => {
  it('default to one of each', () => {
    expect(topologyOf({})).toEqual({ webTiers: 1, controlPlanes: 1 });
    expect(topologyOf({ WEB_TIERS: '', CONTROL_PLANES: '' })).toEqual({ webTiers: 1, controlPlanes: 1 });
  });

  it('take whole numbers up to the bound', () => {
    expect(topologyOf({ WEB_TIERS: '3', CONTROL_PLANES: '2' })).toEqual({ webTiers: 3, controlPlanes: 2 });
    expect(topologyOf({ WEB_TIERS: String(MAX_COPIES) }).webTiers).toBe(MAX_COPIES);
  });

  it.each([
    ['WEB_TIERS', '0'],
    ['WEB_TIERS', '2.5'],
    ['WEB_TIERS', 'three'],
    ['CONTROL_PLANES', '-1'],
    ['CONTROL_PLANES', String(MAX_COPIES + 1)],
  ])('refuse %s=%s with one line naming the variable', (name, value) => {
    expect(() => topologyOf({ [name]: value })).toThrow(`${name} must be a whole number from 1 to ${MAX_COPIES} (got ${value})`);
  });
});

describe('the addresses npm start prints', () => {
  it('with one web tier and one control plane, are the lines it always printed', () => {
    expect(serviceLines(system([41001], [42001]))).toEqual([
      '  Upload page     http://127.0.0.1:3000/',
      '  Swagger UI      http://127.0.0.1:3000/docs',
      '  Fleet status    http://127.0.0.1:42001/api/fleet',
      '  Local S3/SQS    http://127.0.0.1:4566',
      '  Logs            /run/logs/<app>.log, workers in /run/fleet/local-N.log',
    ]);
  });

  it("name the load balancer as the upload page, then each web tier's own address, and each launcher", () => {
    expect(serviceLines(system([41001, 41002, 41003], [42001, 42002], 'http://127.0.0.1:5000'))).toEqual([
      '  Upload page     http://127.0.0.1:3000/',
      '  Web tier 1      http://127.0.0.1:41001',
      '  Web tier 2      http://127.0.0.1:41002',
      '  Web tier 3      http://127.0.0.1:41003',
      '  Swagger UI      http://127.0.0.1:3000/docs',
      '  Fleet status    http://127.0.0.1:42001/api/fleet',
      '  Launcher 2      http://127.0.0.1:42002/api/fleet',
      '  Local S3/SQS    http://127.0.0.1:4566',
      '  EC2 stand-in    http://127.0.0.1:5000',
      '  Logs            /run/logs/<app>.log (<app>-N.log for copy N), workers in /run/fleet/i-<id>.log',
    ]);
  });
});
