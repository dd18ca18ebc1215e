import type { Config } from 'jest';
import { getJestProjectsAsync } from '@nx/jest';

/**
 * Every project's tests in one Jest run (`npm test` runs it through the workspace's `test` target):
 * one set of workers serves all projects, where a Jest per project would start its own CLI and
 * workers and load the transformer, Nest and the AWS SDK again for each (measured: about 5 CPU-s a project).
 */
export default async (): Promise<Config> => ({
  // Not '<rootDir>' itself: the workspace target that runs this file is found as a Jest project too.
  projects: (await getJestProjectsAsync()).filter((project) => project !== '<rootDir>'),
  // A bound for a loaded 2-core machine, not the expected time: tests wait on events, and one that hangs still fails.
  testTimeout: 30_000,
  // More workers than cores: many spec files spend most of their time waiting on a child process,
  // a browser or a long poll, and a waiting worker must not keep a core idle.
  maxWorkers: 4,
  // The longest spec files first on a machine's first run (a fresh clone has no timings).
  testSequencer: '<rootDir>/tools/testing/src/jest/sequencer.js',
});
