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
import { EXIT, parseCommandLine, runMain } from '@app/command-line';
import { runLoad, type LoadOptions } from './run';
import { formatReport } from './report';
import { renderChart } from './chart';

const values = parseCommandLine({
  name: 'npm run loadgen --',
  summary: 'Sends a folder of images to a running web tier and reports latency, failures, agreement and how the fleet scaled.',
  flags: {
    url: { type: 'string', value: 'URL', description: 'the web tier, e.g. http://127.0.0.1:3000', required: true },
    images: { type: 'string', value: 'DIR', description: 'folder of images to send', required: true },
    expected: { type: 'string', value: 'FILE', description: 'expected labels, { name: label } or { name: { label } }' },
    concurrency: { type: 'string', description: 'requests (classic) or uploads (batch) in flight', default: '100', number: { integer: true, min: 1 } },
    mode: { type: 'string', description: "classic: one POST / per file (field myfile); batch: POST /api/images and each batch's event stream", default: 'classic', choices: ['classic', 'batch'] },
    json: { type: 'string', value: 'OUT', description: 'write the report as JSON' },
    chart: { type: 'string', value: 'OUT', description: 'write an HTML chart of workers, queue depth and results over time' },
    limit: { type: 'string', description: 'send only the first N images', number: { integer: true, min: 1 } },
    'batch-size': { type: 'string', description: "files per upload in batch mode (the web tier's MAX_FILES)", default: '100', number: { integer: true, min: 1 } },
    'scale-in-timeout': { type: 'string', description: 'seconds to wait for the fleet to scale back to zero', default: '120', number: { min: 0 } },
    'no-progress': { type: 'boolean', description: 'no progress bar' },
  },
  epilog: 'Exit 1 when a request failed.',
});

runMain('loadgen', async () => {
  const options: LoadOptions = {
    url: values.url.replace(/\/$/, ''),
    imagesDir: values.images,
    expectedFile: values.expected,
    concurrency: Number(values.concurrency),
    mode: values.mode as LoadOptions['mode'],
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
  return run.report.failed > 0 ? EXIT.goalFailed : EXIT.done;
});
