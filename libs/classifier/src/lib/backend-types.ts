export const BACKEND_PREFERENCES = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
/** `auto`: tfjs-node when it loads, else wasm; `cpu` only when asked for. */
export type BackendPreference = (typeof BACKEND_PREFERENCES)[number];
