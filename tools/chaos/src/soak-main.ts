/**
 * `npm run soak -- --images N --json OUT`: N images through the local stack at a steady
 * rate; prints answered, lost and each long-lived process's RSS after warm-up and at the end.
 */
import { EXIT, parseCommandLine, runMain } from '@app/command-line';
import { buildUnlessSkipped, defaultDataset, imagesIn, pipelineModelEnv, writeJson } from './cli';
import { runSoak } from './soak';

const positive = { min: 0.001 };
const values = parseCommandLine({
  name: 'npm run soak --',
  summary: "Sends N images through the local stack at a steady rate; reports answered, lost, conflicting and each long-lived process's memory after warm-up and at the end.",
  flags: {
    images: { type: 'string', description: 'images to send (the files over and over, each upload a new image)', default: '1000', number: { integer: true, min: 1 } },
    json: { type: 'string', value: 'OUT', description: 'write the report as JSON' },
    files: { type: 'string', value: 'DIR', description: 'images to send', default: defaultDataset('imagenet-100') },
    rate: { type: 'string', description: 'images per second', default: '25', number: positive },
    'batch-size': { type: 'string', description: 'images per upload', default: '25', number: { integer: true, min: 1 } },
    timeout: { type: 'string', description: 'give up after this many seconds', default: '3600', number: positive },
  },
  epilog: 'Exit 1 when an image was lost or answered twice.',
});

runMain('soak', async () => {
  buildUnlessSkipped();
  const report = await runSoak({
    files: imagesIn(values.files),
    count: Number(values.images),
    ratePerSecond: Number(values.rate),
    batchSize: Number(values['batch-size']),
    env: pipelineModelEnv(),
    warmupFraction: 0.1,
    timeoutMs: Number(values.timeout) * 1000,
    log: (line) => console.error(`[soak] ${line}`),
  });
  console.log(JSON.stringify(report, null, 2));
  writeJson(values.json, report);
  return report.lost === 0 && report.conflicting === 0 ? EXIT.done : EXIT.goalFailed;
});
