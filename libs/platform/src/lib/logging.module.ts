import { Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { AppConfig } from '@app/config';

/**
 * Structured JSON logs (pino) for every app: one line per event, the level
 * from LOG_LEVEL, HTTP requests logged with their status and duration.
 */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        pinoHttp: {
          level: config.logLevel,
          // Health probes and metric scrapes would drown the request log.
          autoLogging: { ignore: (req) => /^\/(health|metrics)\b/.test(req.url ?? '') },
          redact: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers.cookie'],
          base: { app: process.env['APP_NAME'] },
        },
      }),
    }),
  ],
})
export class LoggingModule {}
