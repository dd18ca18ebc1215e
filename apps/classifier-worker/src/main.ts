import { preloadModel } from './preload';

// The model starts loading first (preload.ts); the app's own modules, by far the
// larger part of this bundle, are required only on the next turn of the event
// loop, once the model's thread is started (the steps before it take no I/O),
// so both go on at once. Arguments are for `--help` (the app refuses any other):
// no model for those.
const preloaded = process.argv.length > 2 ? undefined : preloadModel(process.env);
setImmediate(() => {
  // A require, not an import: an import would load them before the model starts.
  const { startWorker } = require('./start') as typeof import('./start');
  startWorker(preloaded);
});
