/**
 * `npm start`: builds the apps, then runs the whole system on this machine
 * (embedded S3/SQS, launch controller with local worker processes, monitor
 * controller, web tier) until Ctrl-C, which stops all of it, workers included.
 */
import { cpus } from 'node:os';
import { join } from 'node:path';
import { buildApps } from './build';
import { resolveModel } from './model';
import { isPortFree } from './ports';
import { startLocalSystem, WORKSPACE_ROOT, type LocalSystem } from './system';

/** Set by the local system itself; a value in the caller's environment must not override them. */
const OWN = /^(AWS_|S3_|SQS_|INPUT_BUCKET|OUTPUT_BUCKET|LAUNCH_QUEUE_URL|MONITOR_QUEUE_URL|OUTPUT_QUEUE_URL|LAUNCH_DEAD_LETTER_QUEUE_URL|MONITOR_DEAD_LETTER_QUEUE_URL|FLEET_|WORKER_MAIN|PORT$|HOST$|LOCAL_RUN_DIR$|LOCAL_RUN_SKIP_BUILD$|LOCAL_AWS_PORT$)/;

function fail(message: string): never {
  console.error(`\nnpm start: ${message}`);
  process.exit(1);
}

async function main(): Promise<void> {
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

  const passThrough = Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !OWN.test(e[0]) && !e[0].startsWith('npm_')),
  );
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
      onSupervisorEvent: (e) =>
        console.log(
          e.kind === 'crashed'
            ? `${e.app} exited (${e.signal ?? `code ${e.code}`}): restarting it`
            : `${e.app} restarted (pid ${e.pid}, restart ${e.restarts})`,
        ),
      env: {
        LOG_LEVEL: 'info',
        // Locally the machine bounds the fleet: one worker per core unless told otherwise.
        MAX_WORKERS: String(cpus().length),
        IDLE_SECONDS: '30',
        ...passThrough,
        ...model.env,
      },
    });
  } catch (err) {
    fail((err as Error).message);
  }

  console.log(`
The image classification service is running.

  Upload page     ${system.webUrl}/
  Swagger UI      ${system.webUrl}/docs
  Fleet status    ${system.launchControllerUrl}/api/fleet
  Local S3/SQS    ${system.aws.endpoint}${system.ec2 ? `\n  EC2 stand-in    ${system.ec2.endpoint}` : ''}
  Logs            ${system.logDir}/<app>.log, workers in ${system.fleetDir}/${system.ec2 ? 'i-<id>' : 'local-N'}.log

The web tier and both controllers are restarted if they crash.
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
