/**
 * `npm run chaos -- --json OUT`: the local stack (MAX_WORKERS=4) takes 500 photos in
 * batch mode and 100 classic requests at once while random workers are SIGKILLed every
 * second, each controller and the web tier are SIGKILLed once (the supervisor restarts
 * them) and the S3/SQS edge is unreachable for 10 s; then every accepted image is
 * accounted for: answered once, the same on every channel, or lost.
 */
import { parseArgs } from 'node:util';
import { runChaos } from './chaos';
import { buildUnlessSkipped, defaultDataset, imagesIn, pipelineModelEnv, writeJson } from './cli';

const { values } = parseArgs({
  options: {
    json: { type: 'string' },
    'batch-images': { type: 'string', default: defaultDataset('imagenet-sample') },
    'classic-images': { type: 'string', default: defaultDataset('imagenet-100') },
    'batch-limit': { type: 'string' },
    'classic-limit': { type: 'string' },
    'max-workers': { type: 'string', default: '4' },
    'idle-seconds': { type: 'string', default: '10' },
    'kill-every': { type: 'string', default: '1', description: 'seconds between worker kills' },
    'max-kills': { type: 'string', default: '30' },
    'edge-cut': { type: 'string', default: '10', description: 'seconds the S3/SQS edge is unreachable (0: never)' },
    'app-kills': { type: 'string', default: 'all', description: 'all, or none: SIGKILL each controller and the web tier once' },
    timeout: { type: 'string', default: '900' },
  },
});

const num = (name: keyof typeof values): number => {
  const n = Number(values[name]);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number (got ${values[name]})`);
  return n;
};

function appKills(which: string) {
  if (which === 'none') return {};
  if (which !== 'all') throw new Error(`--app-kills must be all or none (got ${which})`);
  return { 'launch-controller': 4000, 'monitor-controller': 8000, 'web-tier': 12000 };
}

async function main(): Promise<void> {
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
    timeoutMs: num('timeout') * 1000,
    log: (line) => console.error(`[chaos] ${line}`),
  });
  const { conflicts, lostImages, ...figures } = report;
  console.log(JSON.stringify(figures, null, 2));
  if (conflicts.length) console.log('conflicting:', JSON.stringify(conflicts.slice(0, 10), null, 2));
  if (lostImages.length) console.log('lost:', JSON.stringify(lostImages.slice(0, 10), null, 2));
  writeJson(values.json, report);
  process.exit(report.lost === 0 && report.conflicting === 0 ? 0 : 1);
}

main().catch((err: Error) => {
  console.error(`chaos: ${err.stack ?? err.message}`);
  process.exit(2);
});
