/**
 * `npm run images`: builds every app image and the local edge image (see --help).
 * Exit 0 all built (and the worker within its size budget), 1 not, 2 usage error or crash.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildImages, checkWorkerBudget, chooseBase, prepareContext, takeBuildLock, WORKER_BUDGET_FACTOR, type WorkerBudget } from './build-images';
import { formatBytes, WORK_DIR } from './catalogue';
import { EXIT, parseBuildArgs } from './cli';
import { buildahStorage, chooseEngine, probeEngines } from './engine';

async function main(): Promise<number> {
  const parsed = parseBuildArgs(process.argv.slice(2));
  if (parsed.kind === 'exit') {
    (parsed.code === 0 ? process.stdout : process.stderr).write(parsed.output);
    return parsed.code;
  }
  const o = parsed.options;
  const log = (line: string) => console.log(line);
  const engine = chooseEngine(o.engine, probeEngines());
  if ('missing' in engine) {
    console.error(`images: ${engine.missing}`);
    return EXIT.goalFailed;
  }
  const storage = engine.name === 'buildah' ? buildahStorage() : undefined;
  log(`engine: ${engine.name}${storage ? ` (${storage.driver} storage: ${storage.reason}; chroot isolation, host network)` : ''}`);
  const started = Date.now();
  let base;
  try {
    base = await chooseBase(engine, o, log);
  } catch (err) {
    console.error(`images: ${(err as Error).message}`);
    return EXIT.goalFailed;
  }
  const lock = takeBuildLock(join(WORK_DIR, 'build.lock'));
  if ('heldBy' in lock) {
    console.error(`images: another npm run images is building (pid ${lock.heldBy}); wait for it to end`);
    return EXIT.goalFailed;
  }
  process.once('exit', lock);
  const context = await prepareContext(o.workingTree ? 'working-tree' : 'head', log);
  // Ctrl-C: the running build is stopped and its working containers removed before the exit.
  const interrupt = new AbortController();
  const onSignal = (signal: string) => {
    if (interrupt.signal.aborted) return;
    log(`\n${signal}: stopping the build and removing its working containers`);
    interrupt.abort();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  const images = await buildImages(engine, o.only, base, context, log, interrupt.signal);
  if (interrupt.signal.aborted) {
    console.error('images: interrupted');
    return EXIT.goalFailed;
  }
  let worker: WorkerBudget | undefined;
  const builtWorker = images.find((i) => i.name === 'classifier-worker' && i.ok);
  if (builtWorker) {
    worker = await checkWorkerBudget(engine, builtWorker);
    log(
      `classifier-worker: image ${formatBytes(worker.imageBytes)}; artifact ${formatBytes(worker.artifactBytes)} + node ${formatBytes(worker.nodeBytes)} = ` +
        `${formatBytes(worker.artifactBytes + worker.nodeBytes)}; ratio ${worker.ratio.toFixed(2)} (budget ${WORKER_BUDGET_FACTOR}× = ${formatBytes(worker.limitBytes)}): ${worker.within ? 'within' : 'OVER BUDGET'}`,
    );
  }
  const seconds = (Date.now() - started) / 1000;
  log('');
  for (const i of images) {
    log(`  ${i.tag.padEnd(30)} ${i.ok ? formatBytes(i.sizeBytes ?? 0).padStart(8) : '  FAILED'}  ${i.seconds.toFixed(0).padStart(4)} s`);
  }
  log(`  total ${seconds.toFixed(0)} s, base ${base.image}${base.offline ? ' (assembled offline)' : ''}`);
  if (o.json) {
    const report = { engine: engine.name, storageDriver: storage?.driver, base, revision: context.revision, seconds, images, worker };
    writeFileSync(resolve(o.json), `${JSON.stringify(report, null, 2)}\n`);
    log(`figures written to ${resolve(o.json)}`);
  }
  const failed = images.filter((i) => !i.ok);
  if (failed.length) {
    console.error(`images: ${failed.map((i) => i.name).join(', ')} failed to build (see each log)`);
    return EXIT.goalFailed;
  }
  if (worker && !worker.within) {
    console.error(`images: the classifier-worker image is over its budget (${formatBytes(worker.imageBytes)} > ${formatBytes(worker.limitBytes)})`);
    return EXIT.goalFailed;
  }
  return EXIT.done;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`images: ${(err as Error).stack ?? String(err)}`);
    process.exit(EXIT.usage);
  },
);
