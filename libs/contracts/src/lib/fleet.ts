/**
 * How a worker tells the fleet whether it is busy. A local worker process sends
 * a WorkerStatusMessage over its IPC channel (process.send) on every change;
 * an EC2 worker sets the WORKER_STATE_TAG on its own instance. Either way the
 * Fleet's list() reports busy/free without asking the worker.
 */
export const WORKER_STATES = ['starting', 'free', 'busy', 'stopping'] as const;
export type WorkerState = (typeof WORKER_STATES)[number];

/** Tags on every worker instance of a stack. */
export const STACK_TAG = 'ics:stack';
export const ROLE_TAG = 'ics:role';
export const WORKER_ROLE = 'classifier-worker';
/** Set by the worker itself: one of WORKER_STATES. */
export const WORKER_STATE_TAG = 'ics:worker-state';

export interface WorkerStatusMessage {
  type: 'worker-status';
  workerId: string;
  state: WorkerState;
  /** Images finished (result or error written) since the process started. */
  imagesDone: number;
  at: string;
}

export function isWorkerStatusMessage(value: unknown): value is WorkerStatusMessage {
  const v = value as Partial<WorkerStatusMessage> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    v.type === 'worker-status' &&
    typeof v.workerId === 'string' &&
    (WORKER_STATES as readonly string[]).includes(v.state ?? '') &&
    typeof v.imagesDone === 'number'
  );
}
