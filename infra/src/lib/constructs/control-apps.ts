/** The apps the control host runs (the worker runs on its own instances). */
export const CONTROL_APPS = ['web-tier', 'launch-controller', 'monitor-controller'] as const;
export type ControlApp = (typeof CONTROL_APPS)[number];
