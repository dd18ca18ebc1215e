/**
 * The system's deployable apps, by the names of their Nx projects and artifacts: three control
 * apps (one host runs them), and the worker (its own instances run it).
 */
export const CONTROL_APPS = ['web-tier', 'launch-controller', 'monitor-controller'] as const;
export type ControlApp = (typeof CONTROL_APPS)[number];
export const WORKER_APP = 'classifier-worker';
export const APPS = [...CONTROL_APPS, WORKER_APP] as const;
export type AppName = (typeof APPS)[number];
