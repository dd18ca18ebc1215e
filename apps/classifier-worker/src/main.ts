import { paceFullCollections } from './heap-pacing';
import { preloadModel, type PreloadedModel } from './preload';

// Before anything is allocated: the garbage collector's pacing (heap-pacing.ts says why).
paceFullCollections();

function start(preloaded: PreloadedModel | undefined): void {
  // A require, not an import: an import would load the app's modules before the model starts.
  const { startWorker } = require('./start') as typeof import('./start');
  startWorker(preloaded);
}

if (process.argv.length > 2) {
  // Arguments are for `--help` (the app refuses any other): parsed at once, no model.
  start(undefined);
} else {
  // The model starts loading first (preload.ts); the app's own modules, by far the
  // larger part of this bundle, are required on the next turn of the event loop,
  // once the model's thread is started (the steps before it take no I/O), so both
  // go on at once.
  const preloaded = preloadModel(process.env);
  setImmediate(() => start(preloaded));
}
