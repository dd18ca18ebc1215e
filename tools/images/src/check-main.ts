/**
 * `npm run images:check`: the built images as a whole system (see --help). Exit 0 every photo
 * labelled and nothing left running, 1 not, 2 usage error or crash.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatBytes, imageSpec } from './catalogue';
import { EXIT, parseCheckArgs } from './cli';
import { BuildahRunner, DockerRunner, stopAllContainers, type ContainerRunner, type StopResult } from './containers';
import { startContainerSystem, SYSTEM_IMAGES, type ContainerSystem } from './container-system';
import { buildahGlobalArgs, chooseEngine, probeEngines, type Engine } from './engine';
import { pickPhotos } from './photos';
import { classifyThroughWebTier } from './upload';

/** Containers of this run still known to the engine (there should be none after stop). */
function leftoverContainers(engine: Engine, runId: string): string[] {
  const r =
    engine.name === 'docker'
      ? spawnSync('docker', ['ps', '-a', '--format', '{{.Names}}'], { encoding: 'utf8' })
      : spawnSync('buildah', [...buildahGlobalArgs(), 'containers', '--format', '{{.ContainerName}}'], { encoding: 'utf8' });
  return (r.stdout ?? '').split('\n').filter((n) => n.includes(`ics-check-${runId}-`));
}

async function main(): Promise<number> {
  const parsed = parseCheckArgs(process.argv.slice(2));
  if (parsed.kind === 'exit') {
    (parsed.code === 0 ? process.stdout : process.stderr).write(parsed.output);
    return parsed.code;
  }
  const o = parsed.options;
  const log = (line: string) => console.log(line);
  const engine = chooseEngine(o.engine, probeEngines());
  if ('missing' in engine) {
    console.error(`images:check: ${engine.missing}`);
    return EXIT.goalFailed;
  }
  const missing = [];
  for (const name of SYSTEM_IMAGES) if (!(await engine.imageExists(imageSpec(name).tag))) missing.push(imageSpec(name).tag);
  if (missing.length) {
    console.error(`images:check: not built: ${missing.join(', ')} (run \`npm run images\` first)`);
    return EXIT.goalFailed;
  }
  const sizes: Record<string, number> = {};
  for (const name of SYSTEM_IMAGES) sizes[name] = await engine.imageSize(imageSpec(name).tag);
  const runner: ContainerRunner = engine.name === 'docker' ? new DockerRunner() : new BuildahRunner();

  let system: ContainerSystem | undefined;
  let stopping: Promise<unknown> | undefined;
  const interrupted = (signal: string) => {
    if (stopping) return;
    log(`\n${signal}: stopping every container this check started`);
    stopping = stopAllContainers().finally(() => process.exit(EXIT.goalFailed));
  };
  // on, not once: Ctrl-C reaches this process twice (from the terminal, and relayed by npm and
  // tsx), and a second SIGINT without a handler would end it before the containers are removed.
  process.on('SIGINT', () => interrupted('SIGINT'));
  process.on('SIGTERM', () => interrupted('SIGTERM'));

  const started = Date.now();
  const photos = await pickPhotos(o.photos);
  log(`photos: ${photos.map((p) => `${p.name} (${p.source === 'generated' ? 'generated' : 'from ' + p.source})`).join(', ')}`);
  let result: Awaited<ReturnType<typeof classifyThroughWebTier>> | undefined;
  let failure: string | undefined;
  let stops: Record<string, StopResult> = {};
  try {
    system = await startContainerSystem(runner, log);
    log(`system up in ${((Date.now() - started) / 1000).toFixed(0)} s; uploading ${photos.length} photos to ${system.webUrl}`);
    result = await classifyThroughWebTier(system.webUrl, photos, o.timeoutSeconds * 1000, log);
  } catch (err) {
    failure = (err as Error).message;
  } finally {
    if (system && !stopping) {
      log('stopping the containers (SIGTERM; web tier first, the edge and its workers last)');
      stops = await system.stop();
    }
  }
  const left = system ? leftoverContainers(engine, system.runId) : [];
  const answered = result?.labels.filter((l) => l.label).length ?? 0;
  log('');
  for (const l of result?.labels ?? []) log(`  ${l.fileName.padEnd(40)} ${l.label ?? `(${l.status})`}`);
  for (const [name, s] of Object.entries(stops)) {
    log(`  ${name}: stopped in ${s.stopSeconds.toFixed(1)} s${s.killed ? ' (SIGKILL after 10 s)' : ''}${s.leftover.length ? `; ${s.leftover.length} process(es) outlived it (killed)` : ''}`);
  }
  const outlived = Object.values(stops).flatMap((s) => s.leftover);
  for (const name of SYSTEM_IMAGES) log(`  ics/${name}:local ${formatBytes(sizes[name])}`);
  log(`answered ${answered}/${photos.length}${result ? ` in ${result.seconds.toFixed(1)} s from the upload` : ''}; containers left: ${left.length ? left.join(', ') : 'none'}`);
  if (o.json) {
    const report = {
      engine: engine.name,
      answered,
      photos: photos.length,
      seconds: result?.seconds ?? null,
      labels: result?.labels ?? [],
      images: Object.fromEntries(Object.entries(sizes).map(([k, v]) => [k, { sizeBytes: v }])),
      stops,
      leftRunning: left,
      processesOutlived: outlived,
      logs: system?.logDir,
      error: failure,
    };
    writeFileSync(resolve(o.json), `${JSON.stringify(report, null, 2)}\n`);
  }
  if (failure) console.error(`images:check: ${failure}`);
  return answered === photos.length && left.length === 0 && outlived.length === 0 && !failure ? EXIT.done : EXIT.goalFailed;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`images:check: ${(err as Error).stack ?? String(err)}`);
    process.exit(EXIT.usage);
  },
);
