/**
 * The configuration alone, without its Nest module: its own entry point
 * (`@app/config/load`), for code that runs before Nest and its dependencies
 * load (the worker starts loading its model with it: apps/classifier-worker/src/preload.ts).
 */
export { AppConfig, loadConfig } from './lib/app-config';
