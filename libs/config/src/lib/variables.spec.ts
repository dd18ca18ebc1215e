import { loadConfig } from './app-config';
import { configVariableNames, configVariables } from './variables';

const byName = (name: string) => configVariables().find((v) => v.name === name);

describe('configVariables (what --help and docs/configuration.md show)', () => {
  it('gives each variable its default and limits as the validation enforces them', () => {
    expect(byName('MAX_WORKERS')).toMatchObject({ default: '20', kind: 'integer', min: 1, max: 1000, required: false });
    expect(byName('TF_BACKEND')).toMatchObject({ default: 'auto', allowed: ['auto', 'tensorflow', 'wasm', 'cpu'] });
    expect(byName('IMAGE_SECONDS')).toMatchObject({ default: '0.2', kind: 'number' });
    expect(byName('INFERENCE_THREAD')).toMatchObject({ default: 'true', kind: 'boolean' });
    expect(byName('MODEL_DIR')).toMatchObject({ default: undefined, required: false });
  });

  it('marks as required exactly what loadConfig refuses to start without', () => {
    const required = configVariables().filter((v) => v.required).map((v) => v.name).sort();
    let problems: string[] = [];
    try {
      loadConfig({});
    } catch (err) {
      problems = (err as { problems: string[] }).problems;
    }
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(required);
  });

  it('lists a limit that loadConfig really enforces', () => {
    const max = byName('MAX_WORKERS')?.max ?? 0;
    const env = { LAUNCH_QUEUE_URL: 'http://q/l', MONITOR_QUEUE_URL: 'http://q/m', OUTPUT_QUEUE_URL: 'http://q/o' };
    expect(loadConfig({ ...env, MAX_WORKERS: String(max) }).fleet.maxWorkers).toBe(max);
    expect(() => loadConfig({ ...env, MAX_WORKERS: String(max + 1) })).toThrow(/MAX_WORKERS/);
  });

  it('names every variable once', () => {
    expect(configVariableNames().size).toBe(configVariables().length);
  });
});
