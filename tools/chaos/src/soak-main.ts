/**
 * `npm run soak -- --images N --json OUT`: N images through the local stack at a steady
 * rate; prints answered, lost and each long-lived process's RSS after warm-up and at the end.
 */
import { parseArgs } from 'node:util';
import { buildUnlessSkipped, defaultDataset, imagesIn, pipelineModelEnv, writeJson } from './cli';
import { runSoak } from './soak';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '1000' },
    json: { type: 'string' },
    files: { type: 'string', default: defaultDataset('imagenet-100') },
    rate: { type: 'string', default: '25' },
    'batch-size': { type: 'string', default: '25' },
    timeout: { type: 'string', default: '3600' },
  },
});

const num = (name: keyof typeof values): number => {
  const n = Number(values[name]);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number (got ${values[name]})`);
  return n;
};

async function main(): Promise<void> {
  buildUnlessSkipped();
  const report = await runSoak({
    files: imagesIn(values.files as string),
    count: num('images'),
    ratePerSecond: num('rate'),
    batchSize: num('batch-size'),
    env: pipelineModelEnv(),
    warmupFraction: 0.1,
    timeoutMs: num('timeout') * 1000,
    log: (line) => console.error(`[soak] ${line}`),
  });
  console.log(JSON.stringify(report, null, 2));
  writeJson(values.json, report);
  process.exit(report.lost === 0 && report.conflicting === 0 ? 0 : 1);
}

main().catch((err: Error) => {
  console.error(`soak: ${err.stack ?? err.message}`);
  process.exit(2);
});
