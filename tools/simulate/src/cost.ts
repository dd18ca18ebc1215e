import type { SimulationConfig } from './model';
import { engineMs, leanOverheadMs, OVERHEAD_MS, PRICE_TABLE, type CapacityName, type EngineName, type InstanceTypeName } from './pricing';

/** One way to run the workers: the engine, the path around it, the instances and how they are bought. */
export interface CostProfile {
  engine: EngineName;
  /** Per-image model time; default: bench:classifier's last measurement of the engine. */
  engineMs?: number;
  /** Worker CPU per image outside the model; default: the lean path's, as bench:classifier last measured it. */
  overheadMs?: number;
  /** Where overheadMs comes from, as the report says. */
  overheadMsSource?: string;
  capacity: CapacityName;
  instanceType: InstanceTypeName;
  /** Default: the price table's. */
  interruptionsPerHour?: number;
  /** WORKER_PREFETCH: images one worker holds; the launch controller sizes the fleet by it. */
  prefetch: number;
}

/**
 * today: TF.js, on-demand x86 (c7i.large, the smallest c7i), WORKER_PREFETCH
 * at its default 20. proposed: ONNX Runtime with the lean per-image path, Spot
 * first, on Graviton, with the worker's CPU outside the model as measured (not
 * the 3 ms the lean path aimed at); at 21 + 8.7 ms an image one core keeps up
 * with about 34 images a second, so the smallest Graviton size (one vCPU) is
 * the instance, and a worker can hold WORKER_PREFETCH=100 (its maximum: 3 s of
 * work) where TF.js's 20 already take 3 s.
 */
export const COST_PROFILES: { today: CostProfile; proposed: CostProfile } = {
  today: { engine: 'tfjs', overheadMs: OVERHEAD_MS.today, overheadMsSource: 'measured before the lean path (constant)', capacity: 'on-demand', instanceType: 'c7i.large', prefetch: 20 },
  proposed: { engine: 'onnx', capacity: 'spot-first', instanceType: 'c7g.medium', prefetch: 100 },
};

/** What a priced run was given, written beside its figures. */
export interface CostInputs {
  engine: EngineName;
  engineMs: number;
  engineMsSource: string;
  overheadMs: number;
  overheadMsSource: string;
  imageSeconds: number;
  capacity: CapacityName;
  instanceType: InstanceTypeName;
  architecture: 'x86_64' | 'arm64';
  vcpus: number;
  concurrency: number;
  prefetch: number;
  onDemandPricePerHour: number;
  spotPricePerHour: number;
  interruptionsPerHour: number;
  spotFallbackShare: number;
  pricesAsOf: string;
  priceSource: string;
}

/**
 * The simulation config for a profile: one image at a time per vCPU, each
 * taking the engine's time plus the worker's own; priced on-demand or Spot from
 * the price table. Flags the user gave explicitly (--image-seconds,
 * --concurrency, --price-per-hour) win over what the profile derives.
 */
export function costProfile(
  base: Omit<SimulationConfig, 'policy'>,
  p: CostProfile,
  given: { imageSecondsGiven: boolean; concurrencyGiven: boolean; pricePerHourGiven: boolean; prefetchGiven: boolean },
  env: NodeJS.ProcessEnv = process.env,
): { config: Omit<SimulationConfig, 'policy'>; inputs: CostInputs } {
  const price = PRICE_TABLE.instances[p.instanceType];
  const measured = p.engineMs === undefined ? engineMs(p.engine, env) : { ms: p.engineMs, source: '--engine-ms' };
  const overhead = p.overheadMs === undefined ? leanOverheadMs(p.engine, env) : { ms: p.overheadMs, source: p.overheadMsSource ?? 'given' };
  const imageSeconds = given.imageSecondsGiven ? base.imageSeconds : (measured.ms + overhead.ms) / 1000;
  const concurrency = given.concurrencyGiven ? base.concurrency : price.vcpus;
  const prefetch = given.prefetchGiven ? base.prefetch : p.prefetch;
  const onDemand = given.pricePerHourGiven ? base.pricePerHour : price.onDemand;
  const interruptionsPerHour = p.interruptionsPerHour ?? PRICE_TABLE.interruptionsPerHour;
  const fallbackShare = p.capacity === 'spot-first' ? PRICE_TABLE.spotFirstFallbackShare : 0;
  const config: Omit<SimulationConfig, 'policy'> = {
    ...base,
    imageSeconds,
    concurrency,
    prefetch,
    pricePerHour: onDemand,
    spot: p.capacity === 'on-demand' ? undefined : { pricePerHour: price.spot, interruptionsPerHour, fallbackShare, handBackSeconds: 1 },
  };
  return {
    config,
    inputs: {
      engine: p.engine,
      engineMs: measured.ms,
      engineMsSource: measured.source,
      overheadMs: overhead.ms,
      overheadMsSource: overhead.source,
      imageSeconds: Math.round(imageSeconds * 100_000) / 100_000,
      capacity: p.capacity,
      instanceType: p.instanceType,
      architecture: price.architecture,
      vcpus: price.vcpus,
      concurrency,
      prefetch,
      onDemandPricePerHour: onDemand,
      spotPricePerHour: price.spot,
      interruptionsPerHour: p.capacity === 'on-demand' ? 0 : interruptionsPerHour,
      spotFallbackShare: fallbackShare,
      pricesAsOf: PRICE_TABLE.asOf,
      priceSource: PRICE_TABLE.source,
    },
  };
}
