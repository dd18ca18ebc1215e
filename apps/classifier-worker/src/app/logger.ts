/** The worker's structured logging; nestjs-pino's PinoLogger and pino fit it. */
export interface WorkerLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}
