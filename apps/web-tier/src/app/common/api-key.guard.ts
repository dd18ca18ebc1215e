import { createParamDecorator, Injectable, SetMetadata, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { DEFAULT_TENANT } from '@app/contracts';
import { ApiKeys } from './api-keys';

const PUBLIC = 'web:public';
/** Served without an API key: the page and health. */
export const Public = () => SetMetadata(PUBLIC, true);

export const API_KEY_HEADER = 'x-api-key';

/** Where the guard leaves the caller's tenant on the request. */
const TENANT = Symbol('tenant');
type WithTenant = Request & { [TENANT]?: string };

/** The caller's tenant, as the guard found it (`default` when keys are off). */
export function tenantOfRequest(req: Request): string {
  const tenant = (req as WithTenant)[TENANT];
  if (tenant === undefined) throw new Error('no tenant on the request: the API key guard did not run');
  return tenant;
}

/** A handler's parameter: the caller's tenant. */
export const Tenant = createParamDecorator((_data: unknown, context: ExecutionContext): string => tenantOfRequest(context.switchToHttp().getRequest<Request>()));

/**
 * API keys (off when none are configured), each naming its tenant, which the
 * guard records on the request for every route to check ownership against. Keys are compared in constant
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
    const req = context.switchToHttp().getRequest<WithTenant>();
    if (!this.apiKeys.enabled) {
      req[TENANT] = DEFAULT_TENANT;
      return true;
    }
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC, [context.getHandler(), context.getClass()])) return true;
    const header = req.headers[API_KEY_HEADER];
    const tenant = this.apiKeys.tenantOf(Buffer.from(typeof header === 'string' ? header : ''));
    if (tenant === undefined) throw new UnauthorizedException(header ? 'invalid API key' : `missing API key: send it in the ${API_KEY_HEADER} header`);
    req[TENANT] = tenant;
    return true;
  }
}
