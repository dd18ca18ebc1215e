import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Controller, Get, Header, Inject, ServiceUnavailableException } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { AppConfig } from '@app/config';
import { SkipThrottle } from '@nestjs/throttler';
import { Public } from '../common/api-key.guard';

/** Folder of the built page (index.html, page.js, styles.css). */
export const PAGE_DIR = Symbol('PAGE_DIR');

/** The upload page at `/`; its script and style are served from `/assets/`. */
@ApiExcludeController()
@Public()
@SkipThrottle()
@Controller()
export class PageController {
  private html?: string;

  constructor(
    @Inject(PAGE_DIR) private readonly dir: string,
    private readonly config: AppConfig,
  ) {}

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-cache')
  index(): string {
    try {
      // The page splits uploads into requests of at most MAX_FILES files.
      this.html ??= readFileSync(join(this.dir, 'index.html'), 'utf8').replace(
        /(<meta name="ics-max-files" content=")\d+(")/,
        `$1${this.config.web.maxFiles}$2`,
      );
    } catch {
      throw new ServiceUnavailableException(`the upload page is not built (no index.html in ${this.dir}): run "npx nx build web-tier"`);
    }
    return this.html;
  }
}
