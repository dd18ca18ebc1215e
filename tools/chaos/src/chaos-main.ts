/**
 * `npm run chaos -- --json OUT`: the local stack (MAX_WORKERS=4) takes 500 photos in
 * batch mode and 100 classic requests at once while random workers are SIGKILLed every
 * second, each controller and the web tier are SIGKILLed once (the supervisor restarts
 * them; of several launch controllers, the leaseholder) and the S3/SQS edge is
 * unreachable for 10 s; optionally N web tiers behind the load balancer, N control
 * planes, S3 browned out and EC2 throttled. Then every accepted image is accounted
 * for: answered once, the same on every channel, or lost.
 */
import { EXIT, parseCommandLine, runMain, UsageError } from '@app/command-line';
import { MAX_COPIES } from '@tools/local-run';
import { runChaos } from './chaos';
import { buildUnlessSkipped, defaultDataset, imagesIn, pipelineModelEnv, writeJson } from './cli';

const seconds = { min: 0 };
const count = { integer: true, min: 0 };
const values = parseCommandLine({
  name: 'npm run chaos --',
  summary:
    'Runs the local stack under failures (workers SIGKILLed, each control app killed once, the S3/SQS edge cut) while it takes a batch and a classic load, then accounts for every accepted image on every channel.',
  flags: {
    json: { type: 'string', value: 'OUT', description: 'write the full report (figures, conflicts, lost images) as JSON' },
    'batch-images': { type: 'string', value: 'DIR', description: 'images uploaded in batch mode', default: defaultDataset('imagenet-sample') },
    'classic-images': { type: 'string', value: 'DIR', description: 'images sent as classic requests, all at once', default: defaultDataset('imagenet-100') },
    'batch-limit': { type: 'string', description: 'only the first N batch images (0: no batch load)', number: count },
    'classic-limit': { type: 'string', description: 'only the first N classic images', number: { integer: true, min: 1 } },
    'max-workers': { type: 'string', description: 'MAX_WORKERS of the stack', default: '4', number: { integer: true, min: 1 } },
    'idle-seconds': { type: 'string', description: 'IDLE_SECONDS of the workers', default: '10', number: { integer: true, min: 1 } },
    'kill-every': { type: 'string', description: 'seconds between worker kills', default: '1', number: { min: 0.1 } },
    'max-kills': { type: 'string', description: 'most workers killed', default: '30', number: count },
    'edge-cut': { type: 'string', description: 'seconds the S3/SQS edge is unreachable (0: never)', default: '10', number: seconds },
    'app-kills': { type: 'string', description: 'all: SIGKILL a web tier, a monitor controller and the launch leaseholder once each; none: no app kills', default: 'all', choices: ['all', 'none'] },
    'web-tiers': { type: 'string', description: 'web tiers behind the local load balancer (default: one tier, no balancer)', number: { integer: true, min: 1, max: MAX_COPIES } },
    'control-planes': { type: 'string', description: 'launch controllers and monitor controllers, this many of each', default: '1', number: { integer: true, min: 1, max: MAX_COPIES } },
    's3-brownout': { type: 'string', value: 'SECONDS', description: 'S3 answers 503 SlowDown for this long, from 20 s into the run (0: never)', default: '0', number: seconds },
    'ec2-throttle': { type: 'string', value: 'SECONDS', description: 'the EC2 stand-in answers RequestLimitExceeded for this long, from 6 s into the run (needs --fleet ec2; 0: never)', default: '0', number: seconds },
    fleet: { type: 'string', description: 'local: worker processes; ec2: the EC2 stand-in, whose worker processes (not instances) are killed', default: 'local', choices: ['local', 'ec2'] },
    timeout: { type: 'string', description: 'give up after this many seconds', default: '900', number: { min: 1 } },
  },
  epilog: 'Exit 1 when an image was lost or answered twice, or answered with an error.',
});

const num = (name: keyof typeof values): number => Number(values[name]);

function appKills(which: string) {
  if (which === 'none') return {};
  return { 'launch-controller': 4000, 'monitor-controller': 8000, 'web-tier': 12000 };
}

runMain('chaos', async () => {
  if (num('ec2-throttle') > 0 && values.fleet !== 'ec2') throw new UsageError('--ec2-throttle needs --fleet ec2 (the EC2 stand-in)');
  buildUnlessSkipped();
  const report = await runChaos({
    batchImages: values['batch-limit'] === '0' ? [] : imagesIn(values['batch-images'] as string, values['batch-limit'] ? num('batch-limit') : undefined),
    classicImages: imagesIn(values['classic-images'] as string, values['classic-limit'] ? num('classic-limit') : undefined),
    batchSize: 100,
    maxWorkers: num('max-workers'),
    env: { ...pipelineModelEnv(), IDLE_SECONDS: String(num('idle-seconds')) },
    workerKillEveryMs: num('kill-every') * 1000,
    maxWorkerKills: num('max-kills'),
    appKillsAtMs: appKills(values['app-kills'] as string),
    edgeCutAtMs: 16000,
    edgeCutMs: num('edge-cut') * 1000,
    s3BrownoutAtMs: 20_000,
    s3BrownoutMs: num('s3-brownout') * 1000,
    ec2ThrottleAtMs: 6000,
    ec2ThrottleMs: num('ec2-throttle') * 1000,
    webTiers: values['web-tiers'] ? num('web-tiers') : undefined,
    controlPlanes: num('control-planes'),
    fleet: values.fleet as 'local' | 'ec2',
    timeoutMs: num('timeout') * 1000,
    log: (line) => console.error(`[chaos] ${line}`),
  });
  const { conflicts, lostImages, ...figures } = report;
  console.log(JSON.stringify(figures, null, 2));
  if (conflicts.length) console.log('conflicting:', JSON.stringify(conflicts.slice(0, 10), null, 2));
  if (lostImages.length) console.log('lost:', JSON.stringify(lostImages.slice(0, 10), null, 2));
  writeJson(values.json, report);
  return report.lost === 0 && report.conflicting === 0 && report.errorResults === 0 ? EXIT.done : EXIT.goalFailed;
});
