/** The logging the classifier needs; pino and nestjs-pino's PinoLogger fit it. */
export interface ClassifierLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** For scripts and tests that want no log. */
export const silentLogger: ClassifierLogger = { info: () => undefined, warn: () => undefined };

/** One JSON line per event on stderr, for scripts without pino. */
export const consoleLogger: ClassifierLogger = {
  info: (fields, msg) => console.error(JSON.stringify({ level: 'info', msg, ...fields })),
  warn: (fields, msg) => console.error(JSON.stringify({ level: 'warn', msg, ...fields })),
};

/** Lines a DeferredLogger keeps before it has somewhere to write them; beyond this, the oldest go. */
const DEFERRED_LINES_KEPT = 200;

/**
 * For work started before the app's own logger exists (the worker loads its
 * model while the rest of its modules load): keeps the lines until `attach`,
 * then writes them, and every later one, to the logger attached.
 */
export class DeferredLogger implements ClassifierLogger {
  private target?: ClassifierLogger;
  private readonly held: { level: 'info' | 'warn'; fields: object; message: string }[] = [];

  info(fields: object, message: string): void {
    this.write('info', fields, message);
  }

  warn(fields: object, message: string): void {
    this.write('warn', fields, message);
  }

  attach(target: ClassifierLogger): void {
    this.target = target;
    for (const line of this.held.splice(0)) target[line.level](line.fields, line.message);
  }

  private write(level: 'info' | 'warn', fields: object, message: string): void {
    if (this.target) return this.target[level](fields, message);
    if (this.held.length === DEFERRED_LINES_KEPT) this.held.shift();
    this.held.push({ level, fields, message });
  }
}
