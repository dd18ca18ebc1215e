import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { WORKSPACE_ROOT } from './apps';

/**
 * The lint rule that keeps tools/ (test helpers, doubles, the local stack) out of
 * what ships: an app or lib may import it from spec files and test/ kits only.
 * Checked both ways Nx and people lint: with a project's own config from its
 * folder, and with the root config from the workspace.
 */
const IMPORTS_TOOLS = "import { startTestStack } from '@tools/testing';\nexport const used = startTestStack;\n";
const REACHES_INTO_TOOLS = "import { startLocalAws } from '../../../tools/local-aws/src';\nexport const used = startLocalAws;\n";

interface Case {
  cwd: string;
  file: string;
  code: string;
}

/**
 * The no-restricted-imports messages for each case, from ESLint's API in a child
 * process (Jest's module sandbox cannot load the .mjs configs), all in one run.
 */
function problems(cases: Case[]): string[][] {
  const script = `
    const { ESLint } = require('eslint');
    const { join } = require('node:path');
    (async () => {
      const out = [];
      for (const c of JSON.parse(process.argv[1])) {
        const [r] = await new ESLint({ cwd: c.cwd }).lintText(c.code, { filePath: join(c.cwd, c.file) });
        out.push(r.messages.filter((m) => m.ruleId === 'no-restricted-imports' || m.fatal).map((m) => m.message));
      }
      process.stdout.write(JSON.stringify(out));
    })().catch((e) => { console.error(e); process.exit(2); });`;
  const run = spawnSync(process.execPath, ['-e', script, JSON.stringify(cases)], { cwd: WORKSPACE_ROOT, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`eslint failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as string[][];
}

const at = (project: string, file: string, code = IMPORTS_TOOLS): Case => ({ cwd: join(WORKSPACE_ROOT, project), file, code });

describe('apps and libs import tools/ only from tests', () => {
  const rejectedCases = [
    at('apps/web-tier', 'src/app/feature.ts'),
    at('apps/web-tier', 'src/app/feature.ts', REACHES_INTO_TOOLS),
    at('libs/aws', 'src/lib/adapter.ts'),
    at('libs/aws', 'src/lib/adapter.ts', REACHES_INTO_TOOLS),
    at('.', 'libs/classifier/src/lib/engine-helper.ts'),
  ];
  const allowedCases = [
    at('apps/web-tier', 'src/app/feature.spec.ts'),
    at('apps/web-tier', 'test/web-test-kit.ts'),
    at('libs/aws', 'src/lib/adapter.spec.ts'),
    at('tools/bench', 'src/bench.ts'),
  ];
  let results: string[][];
  // One ESLint process for every case: loading the configs (and Nx's project graph) is the slow part.
  beforeAll(() => {
    results = problems([...rejectedCases, ...allowedCases]);
  }, 120_000);

  it('rejects production code of an app or lib importing @tools/* or a tools/ path, with its project config or the root one', () => {
    for (const messages of results.slice(0, rejectedCases.length)) expect(messages).toEqual([expect.stringMatching(/only from spec files and test\/ kits/)]);
  });

  it('allows it in spec files and test/ kits, and between tools', () => {
    expect(results.slice(rejectedCases.length)).toEqual(allowedCases.map(() => []));
  });
});
