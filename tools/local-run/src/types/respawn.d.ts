// respawn 2.6 ships no types: the part of its API that the local supervisor uses.
declare module 'respawn' {
  import type { ChildProcess, StdioOptions } from 'node:child_process';
  import type { EventEmitter } from 'node:events';

  interface RespawnOptions {
    name?: string;
    env?: Record<string, string>;
    cwd?: string;
    /** -1: restart for ever. */
    maxRestarts?: number;
    /** Ms to wait before restart n (1-based). */
    sleep?: number | number[] | ((restarts: number) => number);
    /** Ms from SIGTERM to SIGKILL on stop. */
    kill?: number | false;
    stdio?: StdioOptions;
  }

  interface RespawnMonitor extends EventEmitter {
    readonly status: 'running' | 'stopping' | 'stopped' | 'crashed' | 'sleeping';
    readonly pid: number;
    readonly child: ChildProcess | null;
    start(): void;
    stop(cb?: () => void): void;
    on(event: 'spawn', listener: (child: ChildProcess) => void): this;
    on(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
    on(event: 'sleep' | 'crash' | 'start' | 'stop' | 'force-kill', listener: () => void): this;
    on(event: 'warn', listener: (err: Error) => void): this;
  }

  function respawn(command: string[], options?: RespawnOptions): RespawnMonitor;
  export = respawn;
}
