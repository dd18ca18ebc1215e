import type { EC2Client } from '@aws-sdk/client-ec2';
import { WORKER_STATE_TAG, type WorkerState, type WorkerStatusMessage } from '@app/contracts';
import type { WorkerLogger } from './logger';

/**
 * Where a worker runs, and what that means for its identity, how it reports
 * busy/free to the fleet, and how it ends itself when idle.
 */
export interface WorkerPlatform {
  readonly kind: 'local' | 'ec2';
  /** The worker id used in monitor messages and results (an instance id on EC2). */
  readonly workerId: string;
  reportState(state: WorkerState, imagesDone: number): void;
  /** Scale-in: ends this worker's instance (EC2) or nothing more than the process (local). */
  terminateSelf(): Promise<void>;
}

function status(workerId: string, state: WorkerState, imagesDone: number): WorkerStatusMessage {
  return { type: 'worker-status', workerId, state, imagesDone, at: new Date().toISOString() };
}

/**
 * A worker process on this machine. Reports its state over the IPC channel
 * the fleet opened (when there is one); ending itself is just exiting.
 */
export class LocalPlatform implements WorkerPlatform {
  readonly kind = 'local';
  constructor(
    readonly workerId: string,
    private readonly proc: Pick<NodeJS.Process, 'send' | 'connected'> = process,
  ) {}

  reportState(state: WorkerState, imagesDone: number): void {
    if (!this.proc.send || !this.proc.connected) return;
    try {
      this.proc.send(status(this.workerId, state, imagesDone));
    } catch {
      // The parent went away: nobody to tell.
    }
  }

  async terminateSelf(): Promise<void> {
    // Nothing beyond the process: the caller exits.
  }
}

/** IMDSv2: a session token first, then the instance id with it. */
export async function fetchInstanceId(endpoint: string, attempts = 3, timeoutMs = 2000): Promise<string> {
  const base = endpoint.replace(/\/+$/, '');
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      const tokenRes = await fetch(`${base}/latest/api/token`, {
        method: 'PUT',
        headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '21600' },
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!tokenRes.ok) throw new Error(`token: HTTP ${tokenRes.status}`);
      const token = await tokenRes.text();
      const idRes = await fetch(`${base}/latest/meta-data/instance-id`, {
        headers: { 'X-aws-ec2-metadata-token': token },
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!idRes.ok) throw new Error(`instance-id: HTTP ${idRes.status}`);
      const id = (await idRes.text()).trim();
      if (!/^i-[0-9a-f]{8,17}$/.test(id)) throw new Error(`instance-id: unexpected answer "${id.slice(0, 40)}"`);
      return id;
    } catch (err) {
      last = err;
      if (i < attempts - 1) await new Promise((r) => setTimeout(r, 200 * 2 ** i));
    }
  }
  throw new Error(`cannot read the instance id from the instance metadata service at ${base}: ${(last as Error).message}`);
}

/**
 * A worker on its own EC2 instance. Its state is the WORKER_STATE_TAG on the
 * instance (one CreateTags in flight at a time; the latest state wins). An idle
 * worker ends its instance by exiting 0: its systemd unit's SuccessAction
 * powers the instance off, and the fleet launches workers with
 * InstanceInitiatedShutdownBehavior=terminate. So the worker role needs no
 * TerminateInstances, and a worker can end no instance but its own.
 */
export class Ec2Platform implements WorkerPlatform {
  readonly kind = 'ec2';
  private tagged?: WorkerState;
  private wanted?: WorkerState;
  private tagging?: Promise<void>;
  private readonly ec2: () => EC2Client;

  /**
   * `ec2` may be a getter: the EC2 client is the SDK's largest to load (about 0.7 CPU-s), and
   * made on the first tag, after a turn of the event loop, it is not loaded before the app's
   * other modules: the model, loading in its own thread since the process started (preload.ts),
   * goes on meanwhile.
   */
  constructor(
    readonly workerId: string,
    ec2: EC2Client | (() => EC2Client),
    private readonly log: WorkerLogger,
  ) {
    this.ec2 = typeof ec2 === 'function' ? ec2 : () => ec2;
  }

  reportState(state: WorkerState): void {
    this.wanted = state;
    this.tagging ??= this.tagLoop().finally(() => (this.tagging = undefined));
  }

  /** Resolves once the tag matches the latest state reported (for tests and shutdown). */
  async flush(): Promise<void> {
    while (this.tagging) await this.tagging;
  }

  private async tagLoop(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    while (this.wanted !== undefined && this.wanted !== this.tagged) {
      const state = this.wanted;
      try {
        // Required here, not at the top: a local worker never loads the EC2 client (AwsClients.ec2).
        const { CreateTagsCommand } = require('@aws-sdk/client-ec2') as typeof import('@aws-sdk/client-ec2');
        await this.ec2().send(
          new CreateTagsCommand({ Resources: [this.workerId], Tags: [{ Key: WORKER_STATE_TAG, Value: state }] }),
        );
        this.tagged = state;
      } catch (err) {
        this.log.warn({ state, reason: (err as Error).message }, 'cannot tag the instance with its state');
        return;
      }
    }
  }

  async terminateSelf(): Promise<void> {
    // The last state tag goes out first: the launch controller counts this instance by it until it is gone.
    await this.flush();
    this.log.info({ instanceId: this.workerId }, 'exiting: the instance powers off, which terminates it');
  }
}
