import seedrandom from 'seedrandom';
import type { SimulationConfig } from './simulation';

export const SCENARIOS = ['burst', 'steady'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** t3.medium on demand, us-east-1 (USD per hour). */
export const DEFAULT_PRICE_PER_HOUR = 0.0416;

/** The production defaults (README), on an EC2 fleet. */
export const DEFAULTS: Omit<SimulationConfig, 'arrivals' | 'policy'> = {
  seed: '1',
  maxWorkers: 20,
  bootSeconds: 30,
  bootJitter: 0.1,
  imageSeconds: 1,
  concurrency: 1,
  prefetch: 20,
  failureRate: 0,
  idleSeconds: 60,
  pricePerHour: DEFAULT_PRICE_PER_HOUR,
  tickSeconds: 1,
  describeLagSeconds: 0,
  requeueSeconds: 10,
  maxAttempts: 3,
  targetBacklogPerWorker: 1,
  pollWaitSeconds: 20,
  receiveSeconds: 0.05,
};

/**
 * Upload times. burst: the classic load, `images` (100) at once. steady:
 * `images` (10,000) as a Poisson process over `seconds` (600): exponential
 * gaps at images/seconds a second, from a seeded generator.
 */
export function arrivals(scenario: ScenarioName, seed: string, images?: number, seconds = 600): number[] {
  if (scenario === 'burst') return new Array<number>(images ?? 100).fill(0);
  const n = images ?? 10_000;
  const rate = n / seconds;
  const rng = seedrandom(`${seed}:arrivals`);
  const out: number[] = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    out.push(t);
    t += -Math.log(1 - rng()) / rate;
  }
  return out;
}
