import { tryParseCommandLine } from '@app/command-line';
import { appCommandLine } from './environment-help';

describe("an app's command line", () => {
  it('--help lists every variable the app validates, with its default and limits, and exits 0', () => {
    const out = tryParseCommandLine(appCommandLine('web-tier'), ['--help']);
    expect(out).toMatchObject({ kind: 'exit', code: 0 });
    const help = out.kind === 'exit' ? out.stdout : '';
    expect(help).toContain('Usage: node dist/apps/web-tier/main.js [options]');
    expect(help).toMatch(/LAUNCH_QUEUE_URL\s+required/);
    expect(help).toMatch(/MAX_WORKERS\s+default 20, 1\.\.1000/);
    expect(help).toMatch(/TF_BACKEND\s+default auto, auto\|tensorflow\|wasm\|cpu/);
    expect(help).toMatch(/MAX_FILES\s+default 100/);
    expect(help).toMatch(/FLEET_PROVIDER\s+default local, local\|ec2/);
  });

  it.each([[['--port', '3000']], [['start']]])('refuses any argument %j in one line with exit 2 (configuration is the environment)', (argv) => {
    const out = tryParseCommandLine(appCommandLine('classifier-worker'), argv);
    expect(out).toMatchObject({ kind: 'exit', code: 2, stdout: '' });
    expect(out.kind === 'exit' && out.stderr.trim().split('\n')).toHaveLength(1);
    expect(out.kind === 'exit' && out.stderr).toMatch(/^node dist\/apps\/classifier-worker\/main\.js: /);
  });
});
