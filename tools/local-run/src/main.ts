/**
 * `npm start`: builds the apps, then runs the whole system on this machine
 * (embedded S3/SQS, launch controller with local worker processes, monitor
 * controller, web tier) until Ctrl-C, which stops all of it, workers included.
 */
import { cpus } from 'node:os';
import { join } from 'node:path';
import { EXIT, parseCommandLine } from '@app/command-line';
import { buildApps } from './build';
import { fleetSize } from './fleet-size';
import { ignoredMessage, refusalMessage, SET_BY_NPM_START, sortCallerEnvironment } from './caller-env';
import { resolveModel } from './model';
import { isPortFree } from './ports';
import { startLocalSystem, WORKSPACE_ROOT, type LocalSystem } from './system';
import { serviceLines, topologyOf, type Topology } from './topology';

parseCommandLine({
  name: 'npm start --',
  summary: 'Builds the apps and runs the whole system on this machine until Ctrl-C: embedded S3/SQS, launch controller with local workers, monitor controller, web tier.',
  flags: {},
  epilog: `It takes no arguments; it reads these variables:
  PORT                  web port (default 3000; 0: any free port)
  LOCAL_AWS_PORT        port of the embedded S3/SQS (default 4566 when free; 0: any free port)
  LOCAL_RUN_DIR         logs, worker records and S3 data (default .local-run)
  LOCAL_FLEET           local (worker processes) or ec2 (the EC2 provider against the EC2 stand-in)
  EC2_BOOT_SECONDS      with LOCAL_FLEET=ec2: seconds an instance stays pending (default 3)
  LOCAL_RUN_SKIP_BUILD  true: use the apps already built in dist/
  WEB_TIERS             web tiers behind a local round-robin load balancer on PORT (default 1)
  CONTROL_PLANES        launch controllers and monitor controllers, this many of each (default 1)
Any other app variable (MAX_WORKERS, IDLE_SECONDS, MODEL_DIR, LOG_LEVEL, ...: docs/configuration.md)
is passed to every app. It sets these itself and refuses a value for them:
  ${SET_BY_NPM_START.filter((n) => !/^AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|REGION)$/.test(n)).join(', ')}
and ignores (with a warning) AWS credentials, region and profile from the shell.`,
});

function fail(message: string): never {
  console.error(`\nnpm start: ${message}`);
  process.exit(EXIT.usage);
}

async function main(): Promise<void> {
  const caller = sortCallerEnvironment(process.env);
  const refused = refusalMessage(caller);
  if (refused) {
    console.error(`npm start: ${refused}`);
    process.exit(EXIT.usage);
  }
  const ignored = ignoredMessage(caller);
  if (ignored) console.warn(`npm start: ${ignored}`);

  let topology: Topology;
  try {
    topology = topologyOf(process.env);
  } catch (err) {
    fail((err as Error).message);
  }
  const port = Number(process.env['PORT'] ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`PORT must be a port number (got ${process.env['PORT']})`);

  // Tests run `npm start` after Nx has built the apps: a second, nested build
  // would rewrite dist/ under the feet of other test suites running meanwhile.
  if (process.env['LOCAL_RUN_SKIP_BUILD'] !== 'true') {
    console.log('Building the apps (cached after the first time)...');
    try {
      buildApps();
    } catch (err) {
      fail((err as Error).message);
    }
  }

  const model = await resolveModel(process.env).catch((err: Error) => fail(err.message));
  console.log(`Model: ${model.description}`);
  const { maxWorkers, line: workersLine } = fleetSize(cpus().length, model.engine, caller.passThrough['MAX_WORKERS']);
  console.log(workersLine);

  const runDir = process.env['LOCAL_RUN_DIR'] ?? join(WORKSPACE_ROOT, '.local-run');
  // 4566 as LocalStack, when free; LOCAL_AWS_PORT=0 for any free port (a system that must share nothing with another on this machine).
  const awsPortSetting = process.env['LOCAL_AWS_PORT'];
  const awsPort = awsPortSetting !== undefined ? Number(awsPortSetting) : (await isPortFree(4566)) ? 4566 : 0;
  if (!Number.isInteger(awsPort) || awsPort < 0 || awsPort > 65535) fail(`LOCAL_AWS_PORT must be a port number (got ${awsPortSetting})`);
  // LOCAL_FLEET=ec2: the controllers on the real EC2 provider, against the EC2 stand-in.
  const fleet = process.env['LOCAL_FLEET'] ?? 'local';
  if (fleet !== 'local' && fleet !== 'ec2') fail(`LOCAL_FLEET must be local or ec2 (got ${fleet})`);
  const ec2BootSeconds = Number(process.env['EC2_BOOT_SECONDS'] ?? 3);
  if (!(ec2BootSeconds >= 0)) fail(`EC2_BOOT_SECONDS must be a number of seconds (got ${process.env['EC2_BOOT_SECONDS']})`);
  let system: LocalSystem;
  try {
    system = await startLocalSystem({
      webPort: port,
      awsPort,
      runDir,
      fleet,
      ec2BootSeconds,
      // Always behind the balancer, one tier or many: the same path whatever WEB_TIERS says.
      webTiers: topology.webTiers,
      controlPlanes: topology.controlPlanes,
      onSupervisorEvent: (e) =>
        console.log(
          e.kind === 'crashed'
            ? `${e.app} exited (${e.signal ?? `code ${e.code}`}): restarting it`
            : `${e.app} restarted (pid ${e.pid}, restart ${e.restarts})`,
        ),
      env: {
        LOG_LEVEL: 'info',
        // Locally the machine bounds the fleet: as many workers as its cores keep busy for this engine (fleet-size.ts).
        MAX_WORKERS: maxWorkers,
        IDLE_SECONDS: '30',
        ...caller.passThrough,
        ...model.env,
      },
    });
  } catch (err) {
    fail((err as Error).message);
  }

  console.log(`
The image classification service is running.

${serviceLines(system).join('\n')}

Set by npm start for every app: ${SET_BY_NPM_START.join(', ')}.

${topology.webTiers > 1 || topology.controlPlanes > 1 ? 'Every web tier and controller is restarted if it crashes.' : 'The web tier and both controllers are restarted if they crash.'}
Press Ctrl-C to stop everything (workers included).`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping...`);
    system.stop().then(
      () => {
        console.log('Stopped.');
        process.exit(0);
      },
      (err: unknown) => fail(`could not stop cleanly: ${String(err)}`),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

void main();
