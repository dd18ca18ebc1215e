/** The webhooks' clock (ms since the epoch): injected, so retry timing is tested without waiting. */
export type Clock = () => number;

export const WEBHOOK_CLOCK = Symbol('WEBHOOK_CLOCK');
