import type { LocalSystem } from '@tools/local-run';
import { FaultWindows } from './fault-windows';

/** When each timed failure of a run begins and how long it holds, ms. */
export interface FaultSchedule {
  /** When the S3/SQS edge becomes unreachable, and for how long. */
  edgeCutAtMs: number;
  edgeCutMs: number;
  /** When S3 answers 503 SlowDown to every request, and for how long (0: never). */
  s3BrownoutAtMs?: number;
  s3BrownoutMs?: number;
  /** When the EC2 stand-in answers RequestLimitExceeded to every call, and for how long (0: never; `fleet: 'ec2'` only). */
  ec2ThrottleAtMs?: number;
  ec2ThrottleMs?: number;
}

/**
 * The running system's timed failures: the S3/SQS edge unreachable, S3
 * answering 503 SlowDown, the EC2 stand-in answering RequestLimitExceeded.
 */
export function faultWindows(system: Pick<LocalSystem, 'edge' | 's3Brownout' | 'ec2'>, o: FaultSchedule, log: (line: string) => void): FaultWindows {
  const { edge, s3Brownout, ec2 } = system;
  if ((o.s3BrownoutMs ?? 0) > 0 && !s3Brownout) throw new Error('an S3 brownout needs the edge proxy (edgeProxy: true)');
  if ((o.ec2ThrottleMs ?? 0) > 0 && !ec2) throw new Error('EC2 throttling needs the EC2 stand-in (fleet: ec2)');
  return new FaultWindows(
    [
      { name: 'edge cut', atMs: o.edgeCutAtMs, forMs: edge ? o.edgeCutMs : 0, begin: () => edge?.cut(), end: () => edge?.restore() },
      { name: 's3 brownout', atMs: o.s3BrownoutAtMs ?? 0, forMs: o.s3BrownoutMs ?? 0, begin: () => s3Brownout?.begin(), end: () => s3Brownout?.end() },
      {
        name: 'ec2 throttle',
        atMs: o.ec2ThrottleAtMs ?? 0,
        forMs: o.ec2ThrottleMs ?? 0,
        begin: () => ec2?.setFaults({ throttleEveryNth: 1 }),
        end: () => ec2?.setFaults({ throttleEveryNth: 0 }),
      },
    ],
    log,
  );
}

/** The report's figures: seconds each failure held. */
export function heldSecondsOf(windows: FaultWindows): { edgeCutSeconds: number; s3BrownoutSeconds: number; ec2ThrottleSeconds: number } {
  const held = windows.heldSeconds();
  return { edgeCutSeconds: held['edge cut'] ?? 0, s3BrownoutSeconds: held['s3 brownout'] ?? 0, ec2ThrottleSeconds: held['ec2 throttle'] ?? 0 };
}
