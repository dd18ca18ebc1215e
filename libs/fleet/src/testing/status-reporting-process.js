// A process that speaks the worker status protocol and nothing else, for the
// LocalProcessFleet's process-management tests: it reports free, then busy for
// BUSY_MS, then free, and exits 0 on SIGTERM (or ignores it with IGNORE_SIGTERM=1).
const id = process.env.WORKER_ID;
const say = (state) => process.send && process.send({ type: 'worker-status', workerId: id, state, imagesDone: 0, at: new Date().toISOString() });
say('starting');
setTimeout(() => {
  say('busy');
  setTimeout(() => say('free'), Number(process.env.BUSY_MS || 300));
}, 100);
process.on('SIGTERM', () => {
  if (process.env.IGNORE_SIGTERM === '1') {
    console.log(`${id} ignores SIGTERM`);
    return;
  }
  say('stopping');
  process.exit(0);
});
console.log(`${id} started`);
setInterval(() => undefined, 1000);
