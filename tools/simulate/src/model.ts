import type { ScalingPolicyName } from '@app/fleet';

/** A fleet configuration on AWS, and the load it gets. Times in seconds. */
export interface SimulationConfig {
  policy: ScalingPolicyName;
  seed: string;
  /** When each image is uploaded, seconds from the start. */
  arrivals: number[];
  maxWorkers: number;
  /** Launch to the worker's first poll; each instance takes this x (1 ± up to bootJitter), uniformly. */
  bootSeconds: number;
  bootJitter: number;
  /** One image on one worker slot. */
  imageSeconds: number;
  concurrency: number;
  prefetch: number;
  /** Chance that a worker dies while on an image (its instance is gone; the monitor re-queues what it held). */
  failureRate: number;
  idleSeconds: number;
  /** What an instance costs, USD per hour (on-demand, or every instance without `spot`). */
  pricePerHour: number;
  /**
   * Spot workers: each launch is Spot (at `pricePerHour` here) except a
   * `fallbackShare` that runs on-demand; EC2 interrupts a Spot worker at
   * `interruptionsPerHour` (exponential times), and the worker hands back what it
   * holds: back in the queue `handBackSeconds` later, as the same attempt.
   */
  spot?: { pricePerHour: number; interruptionsPerHour: number; fallbackShare: number; handBackSeconds: number };
  tickSeconds: number;
  /** New instances are missing from DescribeInstances this long (EC2's eventual consistency). */
  describeLagSeconds: number;
  /** From a worker's death to its images back in the launch queue (the monitor controller). */
  requeueSeconds: number;
  maxAttempts: number;
  targetBacklogPerWorker: number;
  pollWaitSeconds: number;
  /** One SQS receive round trip. */
  receiveSeconds: number;
  /** What the policy is told, when it differs from the truth (a wrong IMAGE_SECONDS, say). */
  assumed?: { bootSeconds?: number; imageSeconds?: number };
  /** Stop simulating this long after the last arrival, done or not. */
  horizonSeconds?: number;
}

export interface Figures {
  images: number;
  completedSeconds: number;
  latency: { p50: number; p95: number; p99: number };
  peakInstances: number;
  instanceSeconds: number;
  costUsd: number;
  /** costUsd per 1000 images answered. */
  costPer1000Images: number;
  backToZeroSeconds: number;
}

export interface Sample {
  t: number;
  /** Instances alive: pending + running. */
  instances: number;
  running: number;
  /** Images waiting in the launch queue. */
  backlog: number;
  done: number;
}

export interface SimulationResult {
  policy: ScalingPolicyName;
  figures: Figures;
  /** One per scaling tick. */
  samples: Sample[];
  /** Most instances alive at any moment, checked at every launch. */
  peakAlive: number;
  /** Images answered with an error after maxAttempts. */
  errors: number;
  unfinished: number;
  launches: { t: number; count: number; reason: string }[];
  /** Spot workers EC2 interrupted, and how many launches were Spot / on-demand. */
  interruptions: number;
  /** Receive calls that took messages. */
  receives: number;
  spotLaunches: number;
  onDemandLaunches: number;
}

