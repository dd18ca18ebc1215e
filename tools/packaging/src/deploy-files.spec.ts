import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@app/config';
import { APPS, CONTROL_APPS, readArtifact, WORKER_APP, WORKSPACE_ROOT } from './lib/artifacts';
import { allowedInstallScripts, packagesWithInstallScripts, SKIPPED_INSTALL_SCRIPTS } from './lib/install-scripts';
import { configVariables, unknownVariables } from './lib/config-variables';
import { envFilesOf as envFiles } from '@tools/testing/files';
import { ARTIFACT_PREFIX, MODEL_PREFIX } from './upload';

const DEPLOY = join(WORKSPACE_ROOT, 'deploy');
const read = (p: string) => readFileSync(join(DEPLOY, p), 'utf8');

/** A unit file as { key: [values] } of its [Service] (and other) sections, flattened. */
function unitKeys(text: string): Record<string, string[]> {
  const keys: Record<string, string[]> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) (keys[m[1]] ??= []).push(m[2]);
  }
  return keys;
}

const workerScript = read('user-data/worker.sh');
const hostScript = read('user-data/control-host.sh');
const bakeScript = read('user-data/bake-worker.sh');
const install = read('bin/install-app.sh');

describe('systemd units', () => {
  it.each(APPS)('%s runs node main.js from /opt/ics/<app> as its own unprivileged user', (app) => {
    const unit = unitKeys(read(`systemd/${app}.service`));
    expect(unit['ExecStart']).toEqual(['/usr/local/bin/node main.js']);
    expect(unit['WorkingDirectory']).toEqual([`/opt/ics/${app}`]);
    expect(unit['User']).toEqual([`ics-${app}`]);
    expect(unit['EnvironmentFile']).toEqual(app === WORKER_APP ? ['/etc/ics/ics.env', `-/etc/ics/${app}.env`] : [`/etc/ics/${app}.env`]);
    // JSON lines to the file the CloudWatch agent ships.
    expect(unit['StandardOutput']).toEqual([`append:/var/log/ics/${app}.log`]);
    expect(unit['NoNewPrivileges']).toEqual(['true']);
    expect(unit['ProtectSystem']).toEqual(['strict']);
    expect(unit['WantedBy']).toEqual(['multi-user.target']);
    // install-app.sh puts node, the app and the user exactly there.
    expect(install).toContain('ln -sf /opt/node/bin/node /usr/local/bin/node');
    expect(install).toContain('PREFIX="${ICS_PREFIX:-/opt/ics}"');
    expect(install).toContain('user="$(sed -n \'s/^User=//p\' "$here/$app.service")"');
    expect(install).toContain('useradd --system');
    expect(install).toContain('install -m 0644 "$here/$app.service" "/etc/systemd/system/$app.service"');
  });

  it('grant no capability (the web tier listens on 8080 behind the load balancer), and give the worker a writable model cache', () => {
    for (const app of APPS) expect(unitKeys(read(`systemd/${app}.service`))['AmbientCapabilities']).toBeUndefined();
    for (const app of CONTROL_APPS) expect(unitKeys(read(`systemd/${app}.service`))['CapabilityBoundingSet']).toEqual(['']);
    expect(unitKeys(read(`systemd/${WORKER_APP}.service`))['CacheDirectory']).toEqual(['ics']);
    expect(envFiles(workerScript)['/etc/ics/classifier-worker.env']['MODEL_CACHE_DIR']).toMatch(/^\/var\/cache\/ics\//);
  });

  it('keep the control apps away from the instance metadata service, with their own credentials from ics-credentials', () => {
    for (const app of CONTROL_APPS) {
      const unit = unitKeys(read(`systemd/${app}.service`));
      expect(unit['IPAddressDeny']).toEqual(['169.254.169.254/32']);
      expect(unit['After']).toEqual(['network-online.target ics-credentials.service']);
      expect(envFiles(hostScript)[`/etc/ics/${app}.env`]).toMatchObject({ AWS_PROFILE: app, AWS_CONFIG_FILE: '/etc/ics/aws-config' });
      expect(hostScript).toContain(`[profile ${app}]\ncredential_process = /bin/cat /run/ics/credentials/${app}.json\n`);
    }
    // The refresher writes each file for that app's user alone, atomically.
    expect(hostScript).toContain('user="ics-$app"');
    expect(hostScript).toContain('chown "$user:" "$tmp" && chmod 0400 "$tmp" && mv -f "$tmp" "$dir/$app.json"');
    expect(hostScript).toContain('OnUnitActiveSec=15min');
  });

  it('restart the control apps always and the worker only on failure (an idle worker ends its instance)', () => {
    for (const app of CONTROL_APPS) expect(unitKeys(read(`systemd/${app}.service`))['Restart']).toEqual(['always']);
    expect(unitKeys(read(`systemd/${WORKER_APP}.service`))['Restart']).toEqual(['on-failure']);
  });

  const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;
  (analyze ? it : it.skip).each(APPS)('%s passes systemd-analyze verify (no unknown keys or bad values)', (app) => {
    const dir = mkdtempSync(join(tmpdir(), 'units-'));
    try {
      copyFileSync(join(DEPLOY, 'systemd', `${app}.service`), join(dir, `${app}.service`));
      const run = spawnSync('systemd-analyze', ['verify', join(dir, `${app}.service`)], { encoding: 'utf8' });
      // Only complaint allowed: node is not installed here.
      const lines = `${run.stdout}${run.stderr}`.split('\n').filter(Boolean);
      expect(lines.filter((l) => !l.includes('/usr/local/bin/node is not executable'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  (analyze ? it : it.skip)('the control host\'s ics-credentials service and timer (written by its user data) pass systemd-analyze verify', () => {
    const dir = mkdtempSync(join(tmpdir(), 'units-'));
    try {
      const units = [...hostScript.matchAll(/cat > \/etc\/systemd\/system\/([\w.-]+) <<'UNIT'\n([\s\S]*?)\nUNIT\n/g)];
      expect(units.map((m) => m[1])).toEqual(['ics-credentials.service', 'ics-credentials.timer']);
      for (const [, name, text] of units) writeFileSync(join(dir, name), `${text}\n`);
      const run = spawnSync('systemd-analyze', ['verify', join(dir, 'ics-credentials.service'), join(dir, 'ics-credentials.timer')], { encoding: 'utf8' });
      const lines = `${run.stdout}${run.stderr}`.split('\n').filter(Boolean);
      expect(lines.filter((l) => !l.includes('/usr/local/bin/ics-credentials is not executable'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('user data and scripts', () => {
  it.each(['user-data/worker.sh', 'user-data/control-host.sh', 'user-data/bake-worker.sh', 'bin/install-app.sh'])(
    '%s is valid bash that stops at the first error',
    (file) => {
      execFileSync('bash', ['-n', join(DEPLOY, file)]);
      expect(read(file)).toMatch(/^#!\/bin\/bash\n/);
      expect(read(file)).toContain('set -euo pipefail');
    },
  );

  it('set only variables that libs/config, libs/platform or the AWS SDK read', () => {
    const known = new Set([...configVariables(), 'CONFIG_SSM_PATH']);
    for (const script of [workerScript, hostScript]) {
      for (const [file, vars] of Object.entries(envFiles(script))) {
        expect({ file, unknown: unknownVariables(Object.keys(vars), known) }).toEqual({ file, unknown: [] });
      }
    }
  });

  it('give the worker a configuration libs/config accepts once the stack fills it in', () => {
    const files = envFiles(workerScript);
    const sample = (v: string) =>
      v.replace(/@@([A-Z_]+)@@/g, (_, k: string) =>
        k.endsWith('_QUEUE_URL') ? `https://sqs.us-east-1.amazonaws.com/123456789012/${k.toLowerCase()}` : k.endsWith('_TOPIC_ARN') ? `arn:aws:sns:us-east-1:123456789012:${k.toLowerCase()}` : k.endsWith('SECONDS') ? '60' : k === 'AWS_REGION' ? 'us-east-1' : k === 'LOG_LEVEL' ? 'info' : `ics-${k.toLowerCase().replace(/_/g, '-')}`,
      );
    const env = Object.fromEntries(
      Object.entries({ ...files['/etc/ics/ics.env'], ...files['/etc/ics/classifier-worker.env'] }).map(([k, v]) => [k, sample(v)]),
    );
    // `$model_url` / `$model_digest`: set together, only when the ModelUrl parameter is set.
    expect(Object.keys(env)).toEqual(expect.arrayContaining(['MODEL_URL', 'MODEL_SHA256']));
    delete env['MODEL_URL'];
    delete env['MODEL_SHA256'];
    const config = loadConfig(env);
    expect(config.worker).toMatchObject({ platform: 'ec2', modelDir: '/opt/ics/model', modelCacheDir: '/var/cache/ics/model-cache' });
    expect(workerScript).toContain('echo "MODEL_SHA256=$model_digest" >> /etc/ics/classifier-worker.env');
  });

  it('install the worker and the model from where `nx deploy packaging` puts them', () => {
    for (const script of [workerScript, bakeScript]) {
      expect(script).toContain(`"s3://$artifact_bucket/${ARTIFACT_PREFIX}classifier-worker.tar.gz"`);
      // No model uploaded: the artifact's own model, never a failed boot.
      expect(script).toMatch(/-f \/opt\/ics\/model\/model.json/);
      expect(script).toContain(`"s3://$artifact_bucket/${MODEL_PREFIX}" /opt/ics/model/`);
      expect(script).toContain('bash "$tmp/classifier-worker/install.sh"');
    }
    expect(hostScript).toContain(`"s3://$bucket/${ARTIFACT_PREFIX}$app.tar.gz"`);
    expect(hostScript).toContain('bash "$tmp/$app/install.sh"');
    expect(hostScript).toMatch(/apps=\(web-tier launch-controller monitor-controller\)/);
  });

  it('start the units that the tarballs install', () => {
    expect(workerScript).toContain('systemctl enable --now classifier-worker.service');
    expect(hostScript).toContain('systemctl restart "$app.service"');
    // A bake installs but never configures or starts a worker.
    expect(bakeScript).not.toContain('systemctl');
    expect(bakeScript).not.toContain('/etc/ics/');
    expect(hostScript).toContain('systemctl enable --now ics-credentials.timer');
  });

  it('run Node 24 LTS on every host', () => {
    expect(install).toContain('NODE_VERSION="${NODE_VERSION:-24.22.3}"');
    expect(install).toContain('sha256sum -c -');
  });

  it('ship logs when they can, but never let the log agent stop a boot or an install', () => {
    for (const text of [workerScript, hostScript, install]) {
      const lines = text.split('\n');
      lines.forEach((line, i) => {
        if (/amazon-cloudwatch-agent(-ctl)? |dnf install/.test(line) && !line.trimStart().startsWith('#')) {
          // The command, or the block it is in, ends in an `||` fallback.
          expect(lines.slice(i, i + 3).join('\n')).toMatch(/\|\| echo /);
        }
      });
    }
    expect(workerScript).toContain('"file_path": "/var/log/ics/classifier-worker.log"');
  });

  it('power a worker off (and so terminate it) when its user data fails', () => {
    expect(workerScript).toMatch(/trap '.*shutdown -h \+1' ERR/);
  });
});

describe('install-app.sh', () => {
  it('refuses a folder without the app and names what is missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'install-'));
    try {
      mkdirSync(join(dir, 'web-tier'));
      copyFileSync(join(DEPLOY, 'bin/install-app.sh'), join(dir, 'web-tier/install.sh'));
      const run = spawnSync('bash', [join(dir, 'web-tier/install.sh')], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '' } });
      expect(run.status).toBe(1);
      expect(run.stderr).toBe(`install-app: ${join(dir, 'web-tier')}/app/main.js is missing\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('install scripts on the hosts', () => {
  const allowed = allowedInstallScripts();

  it.each(APPS)('%s: every package with an install script is either allowed (and rebuilt) or skipped for a stated reason', (app) => {
    const withScripts = packagesWithInstallScripts(readArtifact(app).lockfile);
    const unexplained = withScripts.filter((p) => !allowed.includes(p) && !(p in SKIPPED_INSTALL_SCRIPTS));
    expect({ app, unexplained }).toEqual({ app, unexplained: [] });
  });

  it('allows exactly the native TensorFlow backend, which only the worker installs, and nothing stale', () => {
    expect(allowed).toEqual(['@tensorflow/tfjs-node']);
    const used = new Set(APPS.flatMap((app) => packagesWithInstallScripts(readArtifact(app).lockfile)));
    for (const p of [...allowed, ...Object.keys(SKIPPED_INSTALL_SCRIPTS)]) expect({ p, used: used.has(p) }).toEqual({ p, used: true });
    expect(packagesWithInstallScripts(readArtifact(WORKER_APP).lockfile)).toContain('@tensorflow/tfjs-node');
  });

  it('install with --ignore-scripts, then rebuild only the allowed ones, dropping an optional one that fails', () => {
    expect(install).toContain('npm ci --omit=dev --ignore-scripts --no-audit --no-fund');
    expect(install).toContain('npm rebuild "$pkg" --foreground-scripts');
    expect(install).toContain('rm -rf "node_modules/$pkg"');
    const commands = install.split('\n').filter((l) => !l.trimStart().startsWith('#'));
    expect(commands.filter((l) => /\bnpm ci\b/.test(l) && !l.includes('--ignore-scripts'))).toEqual([]);
  });
});
