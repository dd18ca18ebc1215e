import { timingSafeEqual } from 'node:crypto';
import { Injectable, SetMetadata, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AppConfig } from '@app/config';
import type { Request } from 'express';

const PUBLIC = 'web:public';
/** Served without an API key: the page, health and metrics. */
export const Public = () => SetMetadata(PUBLIC, true);

export const API_KEY_HEADER = 'x-api-key';

/**
 * Optional API keys (API_KEYS; off when empty). Keys are compared in constant
 * time so that a response's timing tells nothing about a key's prefix.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly keys: Buffer[];

  constructor(
    config: AppConfig,
    private readonly reflector: Reflector,
  ) {
    this.keys = config.web.apiKeys.map((k) => Buffer.from(k));
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.keys.length === 0) return true;
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC, [context.getHandler(), context.getClass()])) return true;
    const header = context.switchToHttp().getRequest<Request>().headers[API_KEY_HEADER];
    const given = Buffer.from(typeof header === 'string' ? header : '');
    const ok = this.keys.some((k) => k.length === given.length && timingSafeEqual(k, given));
    if (!ok) throw new UnauthorizedException(header ? 'invalid API key' : `missing API key: send it in the ${API_KEY_HEADER} header`);
    return true;
  }
}
