import { readFileSync } from 'node:fs';
import { spawnApp, startTestStack } from '@tools/testing';
const cpu = (pid: number) => { const st = readFileSync(`/proc/${pid}/stat`, 'utf8'); const f = st.slice(st.lastIndexOf(')') + 2).split(' '); return (Number(f[11]) + Number(f[12])) * 10; };
(async () => {
  const stack = await startTestStack();
  try {
    for (let r = 0; r < 3; r++) {
      const t = performance.now();
      const w = spawnApp('classifier-worker', { ...stack.env, LOG_LEVEL: 'info', WORKER_ID: 'cold-' + r, IDLE_SECONDS: '3600', INFERENCE_ENGINE: process.env.ENGINE ?? 'onnx', ...(process.env.NCC ? { NODE_COMPILE_CACHE: process.env.NCC } : {}) }, (process.env.XARGS ?? '').split(' ').filter(Boolean));
      const pid = w.process.pid!;
      const marks: string[] = [];
      for (const [name, re] of [['modules', /MODEL_DIR and MODEL_URL are unset/], ['session', /model loaded/], ['polling', /polling the launch queue/]] as const) {
        await w.waitForLine(re, 60_000);
        marks.push(`${name} ${Math.round(performance.now() - t)} ms wall ${cpu(pid)} ms cpu`);
      }
      console.log(process.version, marks.join(' | '));
      await w.stop();
    }
  } finally { await stack.stop(); }
})();
