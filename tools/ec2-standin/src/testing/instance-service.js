// A service for the stand-in's instance-lifecycle tests (the real worker is
// tested end to end in tools/local-run): it reads its instance id through
// IMDSv2 like the worker does, prints it, then does what SERVICE_MODE says:
// `exit0` (done: exits 0), `crash` (exits 1), `shutdown` (runs `shutdown -h now`),
// `run` (keeps running). SIGTERM exits 0 unless IGNORE_SIGTERM=1.
const { execFile } = require('node:child_process');

async function instanceId() {
  const base = process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT;
  const token = await (await fetch(`${base}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } })).text();
  const res = await fetch(`${base}/latest/meta-data/instance-id`, { headers: { 'X-aws-ec2-metadata-token': token } });
  if (!res.ok) throw new Error(`instance-id: HTTP ${res.status}`);
  return res.text();
}

process.on('SIGTERM', () => {
  if (process.env.IGNORE_SIGTERM === '1') return console.log('ignoring SIGTERM');
  console.log('SIGTERM: exiting');
  process.exit(0);
});
setInterval(() => undefined, 1000);

instanceId().then(
  (id) => {
    console.log(`instance ${id} platform ${process.env.WORKER_PLATFORM}`);
    const mode = process.env.SERVICE_MODE;
    if (mode === 'exit0') process.exit(0);
    if (mode === 'crash') process.exit(1);
    if (mode === 'shutdown') execFile('shutdown', ['-h', 'now'], (err) => console.log(`shutdown ran: ${err ? err.message : 'ok'}`));
  },
  (err) => {
    console.log(`no instance id: ${err.message}`);
    process.exit(2);
  },
);
