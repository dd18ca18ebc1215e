import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testChildEnv } from '@tools/testing';
import { WORKSPACE_ROOT } from '../catalogue';

/** The esbuild command the local-aws image bundles the edge with (continuation lines joined). */
function dockerfileEsbuildArgs(): string[] {
  const text = readFileSync(join(WORKSPACE_ROOT, 'docker/local-aws.Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const line = text.split('\n').find((l) => /^RUN npx esbuild /.test(l.trim()));
  if (!line) throw new Error('docker/local-aws.Dockerfile has no "RUN npx esbuild" step');
  return line.trim().split(/\s+/).slice(3);
}

// The edge's bundle, made as its image makes it, must start: it takes s3rver's request log out by
// the middleware's function name (s3-request-log.ts), which esbuild renames in a bundle where the
// name is taken twice unless it keeps names. The image's edge exited at start for that.
describe("the local-aws image's edge bundle", () => {
  const dir = mkdtempSync(join(tmpdir(), 'edge-bundle-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is bundled as the Dockerfile says, and starts and stops', async () => {
    const outfile = join(dir, 'edge-main.js');
    const args = dockerfileEsbuildArgs().map((a) => (a.startsWith('--outfile=') ? `--outfile=${outfile}` : a));
    execFileSync(join(WORKSPACE_ROOT, 'node_modules/.bin/esbuild'), args, { cwd: WORKSPACE_ROOT, stdio: 'pipe' });
    const edge = spawn(process.execPath, [outfile], {
      env: { ...process.env, ...testChildEnv(), LOCAL_AWS_PORT: '0', LOCAL_EC2_PORT: '0', LOCAL_AWS_HOST: '127.0.0.1', LOCAL_AWS_DATA: join(dir, 'data') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let output = '';
      const exited = new Promise<number | null>((resolve) => edge.once('exit', resolve));
      const started = await new Promise<boolean>((resolve) => {
        const read = (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('local edge: S3 + SQS on')) resolve(true);
        };
        edge.stdout.on('data', read);
        edge.stderr.on('data', read);
        void exited.then(() => resolve(false));
      });
      expect({ started, output: started ? '' : output }).toEqual({ started: true, output: '' });
      edge.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (edge.exitCode === null && edge.signalCode === null) edge.kill('SIGKILL');
    }
  }, 60_000);
});
