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
