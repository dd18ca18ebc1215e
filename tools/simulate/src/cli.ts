import { writeFileSync } from 'node:fs';
import { tryParseCommandLine, UsageError, type CliSpec, type FlagSpec } from '@app/command-line';
import { SCALING_POLICIES } from '@app/config';
import type { ScalingPolicyName } from '@app/fleet';
import { renderChart } from './chart';
import { costProfile, COST_PROFILES, type CostInputs, type CostProfile } from './cost';
import { CAPACITIES, ENGINES, PRICE_TABLE, type CapacityName, type EngineName, type InstanceTypeName } from './pricing';
import { arrivals, DEFAULTS, SCENARIOS, type ScenarioName } from './scenarios';
import { simulate, type Figures, type SimulationConfig, type SimulationResult } from './simulation';

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

const NUMBER_FLAG_HELP: Record<keyof typeof NUMBER_FLAGS, string> = {
  'max-workers': 'MAX_WORKERS (default 20)',
  'boot-seconds': 'seconds from launch to a worker taking work (default 30)',
  'boot-jitter': 'spread of boot times, a fraction (default 0.1: 30 s ± 10 %)',
  'image-seconds': 'seconds one worker spends on one image',
  concurrency: 'images one worker works on at once (default 1)',
  prefetch: 'images one worker holds at once (default 20)',
  'failure-rate': 'chance a worker dies on an image (default 0)',
  'idle-seconds': 'IDLE_SECONDS (default 60)',
  'price-per-hour': 'USD per instance-hour',
  'describe-lag-seconds': "EC2's DescribeInstances lag (default 0)",
  'requeue-seconds': "seconds until a dead worker's images are back in the queue",
  'tick-seconds': 'period of the scaling loop',
};

/** The flags of `npm run simulate`; the values are checked by runCli, whose messages name each flag. */
export const SIMULATE_COMMAND_LINE = {
  name: 'npm run simulate --',
  summary:
    "What a fleet configuration does on AWS, in seconds: the launch controller's real scaling policy and planner on a virtual clock, with the queue, EC2 and the workers simulated.",
  flags: {
    scenario: { type: 'string', description: 'burst: 100 images at once; steady: a Poisson process over --seconds', default: 'burst' },
    policy: { type: 'string', description: 'work-per-worker or one-per-message', default: 'work-per-worker' },
    compare: { type: 'boolean', description: 'both policies side by side' },
    'compare-cost': { type: 'boolean', description: 'today (tfjs, on-demand, c7i) beside the proposal (onnx, spot-first, c7g)' },
    json: { type: 'string', value: 'OUT', description: 'write the figures as JSON' },
    chart: { type: 'string', value: 'OUT', description: 'write an HTML chart of instances and backlog over time' },
    seed: { type: 'string', description: 'seed of the arrival and boot-time generator', default: DEFAULTS.seed },
    images: { type: 'string', value: 'N', description: 'images in the scenario' },
    seconds: { type: 'string', value: 'S', description: 'steady: arrivals spread over this many seconds', default: '600' },
    'assumed-image-seconds': { type: 'string', value: 'S', description: 'what the policy is told an image takes (when it is wrong)' },
    'assumed-boot-seconds': { type: 'string', value: 'S', description: 'what the policy is told a boot takes (when it is wrong)' },
    engine: { type: 'string', description: "tfjs or onnx: the engine whose time per image is priced" },
    'engine-ms': { type: 'string', value: 'MS', description: "model time per image (default: bench:classifier's last report)" },
    'overhead-ms': { type: 'string', value: 'MS', description: "the worker's time per image outside the model" },
    capacity: { type: 'string', description: 'on-demand, spot or spot-first' },
    'instance-type': { type: 'string', description: "an instance type of the price table (c7i.large, c7g.medium, c7g.large)" },
    'interruptions-per-hour': { type: 'string', value: 'R', description: 'Spot interruptions per instance-hour' },
    ...(Object.fromEntries(Object.entries(NUMBER_FLAG_HELP).map(([flag, description]) => [flag, { type: 'string', value: 'N', description }])) as Record<
      keyof typeof NUMBER_FLAGS,
      FlagSpec
    >),
  },
  epilog: 'Figures are printed as a table; --json writes them, --chart draws them.',
} as const satisfies CliSpec<Record<string, FlagSpec>>;

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
  const parsed = tryParseCommandLine(SIMULATE_COMMAND_LINE, argv);
  if (parsed.kind === 'exit') throw new UsageError(parsed.stderr.replace(`${SIMULATE_COMMAND_LINE.name}: `, '').trim());
  const values = parsed.values;
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
  if (out.overheadMs !== undefined) out.overheadMsSource = '--overhead-ms';
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
