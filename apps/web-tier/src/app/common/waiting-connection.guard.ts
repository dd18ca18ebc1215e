import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request, Response } from 'express';
import { tenantOfRequest } from './api-key.guard';
import { ClientLimits } from './client-limits';

/**
 * For routes that hold their connection open until a later answer (an event
 * stream, a classic request waiting for its result): takes a place under the
 * waiting-connection caps (429 + Retry-After beyond them) and gives it back
 * when the response is done or the client goes away. Runs after the API key
 * guard (route guards run after global ones), so the tenant is known.
 */
@Injectable()
export class WaitingConnectionGuard implements CanActivate {
  constructor(private readonly limits: ClientLimits) {}

  canActivate(context: ExecutionContext): boolean {
    const http = context.switchToHttp();
    const req = http.getRequest<Request>();
    const release = this.limits.holdConnection(req, tenantOfRequest(req));
    // 'close' comes once the response is finished or the connection is gone, whichever is first.
    http.getResponse<Response>().once('close', release);
    return true;
  }
}
