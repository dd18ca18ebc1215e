import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SCALING_POLICIES } from '@app/config';
import type { ScalingPolicyName } from '@app/fleet';
import { renderChart } from './chart';
import { arrivals, DEFAULTS, SCENARIOS, type ScenarioName } from './scenarios';
import { simulate, type Figures, type SimulationConfig, type SimulationResult } from './simulation';

export const USAGE = `npm run simulate -- [--scenario burst|steady] [--policy work-per-worker|one-per-message] [--compare]
  [--json OUT] [--chart OUT] [--seed S] [--images N] [--seconds S (steady: arrivals over S)]
  [--max-workers N] [--boot-seconds S] [--boot-jitter F] [--image-seconds S] [--concurrency N] [--prefetch N]
  [--failure-rate P] [--idle-seconds S] [--price-per-hour USD] [--describe-lag-seconds S] [--requeue-seconds S]
  [--tick-seconds S] [--assumed-image-seconds S] [--assumed-boot-seconds S]`;

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
  /** What --json writes: the figures, or one set per policy with --compare. */
  json: Figures | Record<string, Figures>;
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

export function formatRuns(scenario: string, runs: SimulationResult[]): string {
  const rows: [string, (f: Figures, r: SimulationResult) => string][] = [
    ['images', (f) => String(f.images)],
    ['completed (s)', (f) => String(f.completedSeconds)],
    ['latency p50/p95/p99 (s)', (f) => `${f.latency.p50} / ${f.latency.p95} / ${f.latency.p99}`],
    ['peak instances', (f) => String(f.peakInstances)],
    ['instance-seconds', (f) => String(f.instanceSeconds)],
    ['cost (USD)', (f) => f.costUsd.toFixed(4)],
    ['back to zero (s)', (f) => String(f.backToZeroSeconds)],
    ['error results', (_f, r) => String(r.errors)],
  ];
  const width = Math.max(...rows.map(([name]) => name.length)) + 2;
  const header = `${scenario.padEnd(width)}${runs.map((r) => r.policy.padEnd(24)).join('')}`;
  return [header, ...rows.map(([name, get]) => `${name.padEnd(width)}${runs.map((r) => get(r.figures, r).padEnd(24)).join('')}`)].join('\n');
}
