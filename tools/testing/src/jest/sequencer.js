// @ts-check
const { relative, join } = require('node:path');
const Sequencer = require('@jest/test-sequencer').default;

const WORKSPACE_ROOT = join(__dirname, '../../../..');

/**
 * Spec files that run longest (seconds of wall time, measured with four workers on two cores),
 * started first on a run with no timings of its own. Jest orders such a run by file size, which
 * started the 11-line file that synthesises the whole CDK stack (about 30 s) last of all, with
 * the other workers idle behind it. A name no longer here only loses its head start; a run with
 * Jest's own timings (any run after the first on a machine) uses those instead.
 */
const LONGEST_FIRST = new Map([
  ['apps/web-tier/src/page.spec.ts', 90],
  ['tools/packaging/src/hosts.spec.ts', 70],
  ['libs/classifier/src/lib/classifier.spec.ts', 70],
  ['apps/web-tier/src/app/classic.spec.ts', 63],
  ['apps/classifier-worker/src/worker-process.spec.ts', 57],
  ['tools/local-run/src/start.spec.ts', 52],
  ['libs/classifier/src/lib/default-model.spec.ts', 52],
  ['apps/classifier-worker/src/app/worker-loop.spec.ts', 50],
  ['tools/packaging/src/docker.spec.ts', 47],
  ['tools/docs/src/command-line-check/command-line-check.spec.ts', 46],
  ['apps/monitor-controller/src/app/deadline-monitor.spec.ts', 40],
  ['infra/src/lib/stack-template.spec.ts', 35],
]);

class LongestFirstSequencer extends Sequencer {
  sort(tests) {
    const sorted = super.sort(tests);
    if (sorted.some((test) => test.duration != null)) return sorted;
    const headStart = (test) => LONGEST_FIRST.get(relative(WORKSPACE_ROOT, test.path)) ?? 0;
    // Stable: the rest keep Jest's order (largest file first).
    return sorted
      .map((test, index) => ({ test, index }))
      .sort((a, b) => headStart(b.test) - headStart(a.test) || a.index - b.index)
      .map(({ test }) => test);
  }
}

module.exports = LongestFirstSequencer;
