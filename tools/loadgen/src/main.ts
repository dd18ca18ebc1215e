/**
 * `npm run loadgen -- --url URL --images DIR [--expected FILE] [--concurrency 100]
 *   [--mode classic|batch] [--json OUT] [--chart OUT] [--limit N] [--batch-size 100]`
 *
 * classic: one `POST /` per file (field `myfile`), the label in the body, as the
 * course's load generator does. batch: `POST /api/images` with up to --batch-size
 * files each (--concurrency uploads at a time), results over each batch's event
 * stream. Samples `/api/status` while it runs to report peak workers and how
 * long the fleet takes to scale back to zero.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runLoad, type LoadOptions } from './run';
import { formatReport } from './report';
import { renderChart } from './chart';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      images: { type: 'string' },
      expected: { type: 'string' },
      concurrency: { type: 'string', default: '100' },
      mode: { type: 'string', default: 'classic' },
      json: { type: 'string' },
      chart: { type: 'string' },
      limit: { type: 'string' },
      'batch-size': { type: 'string', default: '100' },
      'scale-in-timeout': { type: 'string', default: '120' },
      'no-progress': { type: 'boolean', default: false },
    },
  });
  if (!values.url || !values.images) throw new Error('--url and --images are required');
  if (values.mode !== 'classic' && values.mode !== 'batch') throw new Error(`--mode must be classic or batch (got ${values.mode})`);
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`--concurrency must be a positive integer (got ${values.concurrency})`);
  const options: LoadOptions = {
    url: values.url.replace(/\/$/, ''),
    imagesDir: values.images,
    expectedFile: values.expected,
    concurrency,
    mode: values.mode,
    limit: values.limit ? Number(values.limit) : undefined,
    batchSize: Number(values['batch-size']),
    scaleInTimeoutMs: Number(values['scale-in-timeout']) * 1000,
    progress: !values['no-progress'],
  };
  const run = await runLoad(options);
  console.log(`\n${formatReport(run.report)}`);
  if (values.json) {
    writeFileSync(values.json, JSON.stringify(run.report, null, 2) + '\n');
    console.log(`report written to ${values.json}`);
  }
  if (values.chart) {
    writeFileSync(values.chart, renderChart(`${options.mode} load: ${run.report.requests} images`, run.samples, run.results, run.report));
    console.log(`chart written to ${values.chart}`);
  }
  if (run.report.failed > 0) process.exitCode = 2;
}

main().catch((err: unknown) => {
  console.error(`loadgen: ${(err as Error).message}`);
  process.exit(1);
});
