import { timingSafeEqual } from 'node:crypto';
import { Injectable, SetMetadata, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { ApiKeys } from './api-keys';

const PUBLIC = 'web:public';
/** Served without an API key: the page and health. */
export const Public = () => SetMetadata(PUBLIC, true);

export const API_KEY_HEADER = 'x-api-key';

/**
 * API keys (off when none are configured). Keys are compared in constant
 * time so that a response's timing tells nothing about a key's prefix. Runs
 * after the rate limiter, so that a flood of wrong keys is throttled too.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly apiKeys: ApiKeys,
    private readonly reflector: Reflector,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const keys = this.apiKeys.keys;
    if (keys.length === 0) return true;
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC, [context.getHandler(), context.getClass()])) return true;
    const header = context.switchToHttp().getRequest<Request>().headers[API_KEY_HEADER];
    const given = Buffer.from(typeof header === 'string' ? header : '');
    const ok = keys.some((k) => k.length === given.length && timingSafeEqual(k, given));
    if (!ok) throw new UnauthorizedException(header ? 'invalid API key' : `missing API key: send it in the ${API_KEY_HEADER} header`);
    return true;
  }
}
