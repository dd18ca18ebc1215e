import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SCALING_POLICIES } from '@app/config';
import type { ScalingPolicyName } from '@app/fleet';
import { renderChart } from './chart';
import { costProfile, COST_PROFILES, type CostInputs, type CostProfile } from './cost';
import { CAPACITIES, ENGINES, PRICE_TABLE, type CapacityName, type EngineName, type InstanceTypeName } from './pricing';
import { arrivals, DEFAULTS, SCENARIOS, type ScenarioName } from './scenarios';
import { simulate, type Figures, type SimulationConfig, type SimulationResult } from './simulation';

export const USAGE = `npm run simulate -- [--scenario burst|steady] [--policy work-per-worker|one-per-message] [--compare]
  [--json OUT] [--chart OUT] [--seed S] [--images N] [--seconds S (steady: arrivals over S)]
  [--max-workers N] [--boot-seconds S] [--boot-jitter F] [--image-seconds S] [--concurrency N] [--prefetch N]
  [--failure-rate P] [--idle-seconds S] [--price-per-hour USD] [--describe-lag-seconds S] [--requeue-seconds S]
  [--tick-seconds S] [--assumed-image-seconds S] [--assumed-boot-seconds S]
  [--engine tfjs|onnx] [--engine-ms MS] [--overhead-ms MS] [--capacity on-demand|spot|spot-first]
  [--instance-type c7i.large|c7g.medium|c7g.large] [--interruptions-per-hour R] [--compare-cost]`;

const NUMBER_FLAGS = {
  'max-workers': 'maxWorkers',
  'boot-seconds': 'bootSeconds',
  'boot-jitter': 'bootJitter',
  'image-seconds': 'imageSeconds',
  concurrency: 'concurrency',
  prefetch: 'prefetch',
  'failure-rate': 'failureRate',
  'idle-seconds': 'idleSeconds',
  'price-per-hour': 'pricePerHour',
  'describe-lag-seconds': 'describeLagSeconds',
  'requeue-seconds': 'requeueSeconds',
  'tick-seconds': 'tickSeconds',
} as const satisfies Record<string, keyof SimulationConfig>;

export interface CliRun {
  scenario: ScenarioName;
  runs: SimulationResult[];
  /** What --json writes: the figures, one set per policy with --compare, or today/proposed with --compare-cost. */
  json: Figures | Record<string, Figures> | Record<string, Figures & { inputs: CostInputs }>;
  text: string;
}

function num(flag: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new Error(`--${flag} must be a number >= 0 (got ${value})`);
  return n;
}

/** Parses the flags, runs the scenario (both policies with --compare), writes --json and --chart. */
export function runCli(argv: string[]): CliRun {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      scenario: { type: 'string', default: 'burst' },
      policy: { type: 'string', default: 'work-per-worker' },
      compare: { type: 'boolean', default: false },
      json: { type: 'string' },
      chart: { type: 'string' },
      seed: { type: 'string', default: DEFAULTS.seed },
      images: { type: 'string' },
      seconds: { type: 'string', default: '600' },
      'assumed-image-seconds': { type: 'string' },
      'assumed-boot-seconds': { type: 'string' },
      engine: { type: 'string' },
      'engine-ms': { type: 'string' },
      'overhead-ms': { type: 'string' },
      capacity: { type: 'string' },
      'instance-type': { type: 'string' },
      'interruptions-per-hour': { type: 'string' },
      'compare-cost': { type: 'boolean', default: false },
      ...Object.fromEntries(Object.keys(NUMBER_FLAGS).map((k) => [k, { type: 'string' as const }])),
    },
  });
  const scenario = values.scenario as ScenarioName;
  if (!SCENARIOS.includes(scenario)) throw new Error(`--scenario must be one of ${SCENARIOS.join(', ')} (got ${values.scenario})`);
  const policy = values.policy as ScalingPolicyName;
  if (!SCALING_POLICIES.includes(policy)) throw new Error(`--policy must be one of ${SCALING_POLICIES.join(', ')} (got ${values.policy})`);
  const base: Omit<SimulationConfig, 'policy'> = {
    ...DEFAULTS,
    seed: values.seed as string,
    arrivals: arrivals(scenario, values.seed as string, values.images ? num('images', values.images) : undefined, num('seconds', values.seconds as string)),
  };
  const v = values as Record<string, string | boolean | undefined>;
  for (const [flag, key] of Object.entries(NUMBER_FLAGS)) {
    const given = v[flag];
    if (typeof given === 'string') Object.assign(base, { [key]: num(flag, given) });
  }
  const assumedImage = v['assumed-image-seconds'];
  const assumedBoot = v['assumed-boot-seconds'];
  if (typeof assumedImage === 'string' || typeof assumedBoot === 'string') {
    base.assumed = {
      imageSeconds: typeof assumedImage === 'string' ? num('assumed-image-seconds', assumedImage) : undefined,
      bootSeconds: typeof assumedBoot === 'string' ? num('assumed-boot-seconds', assumedBoot) : undefined,
    };
  }
  const cost = costOptions(v);
  if (values['compare-cost'] || cost) {
    if (values.compare) throw new Error('--compare and --compare-cost cannot be combined');
    const profiles: [string, CostProfile][] = values['compare-cost'] ? Object.entries(COST_PROFILES) : [['run', { ...COST_PROFILES.today, ...cost }]];
    const priced = profiles.map(([name, profile]) => {
      const { config, inputs } = costProfile(base, profile, { imageSecondsGiven: typeof v['image-seconds'] === 'string', concurrencyGiven: typeof v['concurrency'] === 'string', pricePerHourGiven: typeof v['price-per-hour'] === 'string', prefetchGiven: typeof v['prefetch'] === 'string' });
      return { name, inputs, result: simulate({ ...config, policy }) };
    });
    const json = values['compare-cost']
      ? Object.fromEntries(priced.map((p) => [p.name, { ...p.result.figures, inputs: p.inputs }]))
      : { ...priced[0].result.figures, inputs: priced[0].inputs };
    if (values.json) writeFileSync(values.json, JSON.stringify(json, null, 2) + '\n');
    const runs = priced.map((p) => p.result);
    let text = formatRuns(scenario, runs, priced.map((p) => `${p.name}: ${p.inputs.engine}, ${p.inputs.capacity}, ${p.inputs.instanceType}`));
    if (priced.length === 2) {
      const [today, proposed] = runs.map((r) => r.figures.costPer1000Images);
      text += `\nproposed / today cost per 1000 images: ${(proposed / today).toFixed(3)} (prices as of ${PRICE_TABLE.asOf}, ${PRICE_TABLE.region})`;
    }
    return { scenario, runs, json, text };
  }
  const policies: ScalingPolicyName[] = values.compare ? ['work-per-worker', 'one-per-message'] : [policy];
  const runs = policies.map((p) => simulate({ ...base, policy: p }));
  const json = values.compare ? Object.fromEntries(runs.map((r) => [r.policy, r.figures])) : runs[0].figures;
  const config: Record<string, unknown> = { scenario, ...base, images: base.arrivals.length };
  delete config['arrivals'];
  if (values.json) writeFileSync(values.json, JSON.stringify(json, null, 2) + '\n');
  if (values.chart) {
    writeFileSync(values.chart, renderChart(`${scenario}: ${base.arrivals.length} images, MAX_WORKERS=${base.maxWorkers}`, runs, config));
  }
  return { scenario, runs, json, text: formatRuns(scenario, runs) };
}

/** --engine, --engine-ms, --overhead-ms, --capacity, --instance-type, --interruptions-per-hour: undefined when none is given. */
function costOptions(v: Record<string, string | boolean | undefined>): Partial<CostProfile> | undefined {
  const out: Partial<CostProfile> = {};
  const engine = v['engine'];
  if (typeof engine === 'string') {
    if (!(ENGINES as readonly string[]).includes(engine)) throw new Error(`--engine must be one of ${ENGINES.join(', ')} (got ${engine})`);
    out.engine = engine as EngineName;
  }
  const capacity = v['capacity'];
  if (typeof capacity === 'string') {
    if (!(CAPACITIES as readonly string[]).includes(capacity)) throw new Error(`--capacity must be one of ${CAPACITIES.join(', ')} (got ${capacity})`);
    out.capacity = capacity as CapacityName;
  }
  const type = v['instance-type'];
  if (typeof type === 'string') {
    const known = Object.keys(PRICE_TABLE.instances);
    if (!known.includes(type)) throw new Error(`--instance-type must be one of ${known.join(', ')} (the price table's) (got ${type})`);
    out.instanceType = type as InstanceTypeName;
  }
  for (const [flag, key] of [['engine-ms', 'engineMs'], ['overhead-ms', 'overheadMs'], ['interruptions-per-hour', 'interruptionsPerHour']] as const) {
    const given = v[flag];
    if (typeof given === 'string') out[key] = num(flag, given);
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

export function formatRuns(scenario: string, runs: SimulationResult[], labels?: string[]): string {
  const rows: [string, (f: Figures, r: SimulationResult) => string][] = [
    ['images', (f) => String(f.images)],
    ['completed (s)', (f) => String(f.completedSeconds)],
    ['latency p50/p95/p99 (s)', (f) => `${f.latency.p50} / ${f.latency.p95} / ${f.latency.p99}`],
    ['peak instances', (f) => String(f.peakInstances)],
    ['instance-seconds', (f) => String(f.instanceSeconds)],
    ['cost (USD)', (f) => f.costUsd.toFixed(4)],
    ['cost per 1000 images (USD)', (f) => f.costPer1000Images.toFixed(6)],
    ['back to zero (s)', (f) => String(f.backToZeroSeconds)],
    ['error results', (_f, r) => String(r.errors)],
  ];
  const width = Math.max(...rows.map(([name]) => name.length)) + 2;
  const col = Math.max(24, ...(labels ?? []).map((l) => l.length + 2));
  const header = `${scenario.padEnd(width)}${runs.map((r, i) => (labels?.[i] ?? r.policy).padEnd(col)).join('')}`;
  return [header, ...rows.map(([name, get]) => `${name.padEnd(width)}${runs.map((r) => get(r.figures, r).padEnd(col)).join('')}`)].join('\n');
}
