import { Injectable, Logger } from '@nestjs/common';
import { AwsResources, type Queue, type QueueDepth } from '@app/aws';
import { AppConfig } from '@app/config';
import type { StatusDto, WorkersDto } from './status.dto';

/** Many open pages poll the status: one read of the queues and the fleet serves them all for this long. */
const CACHE_MS = 1_000;
const FLEET_TIMEOUT_MS = 1_000;

interface FleetAnswer {
  running?: unknown;
  free?: unknown;
  pending?: unknown;
  lastDecision?: unknown;
}

/**
 * The fleet panel's data: queue depths read here, workers from the launch
 * controller's `GET /api/fleet` (null when it is not configured or not answering).
 */
@Injectable()
export class StatusService {
  private readonly logger = new Logger(StatusService.name);
  private cached?: { at: number; value: Promise<StatusDto> };

  constructor(
    private readonly aws: AwsResources,
    private readonly config: AppConfig,
  ) {}

  status(): Promise<StatusDto> {
    const now = Date.now();
    if (!this.cached || now - this.cached.at > CACHE_MS) this.cached = { at: now, value: this.read() };
    return this.cached.value;
  }

  private async read(): Promise<StatusDto> {
    const [launch, monitor, output, fleet] = await Promise.all([
      this.depth(this.aws.launchQueue),
      this.depth(this.aws.monitorQueue),
      this.depth(this.aws.outputQueue),
      this.fleet(),
    ]);
    const status: StatusDto = { workers: fleet?.workers ?? null, queues: { launch, monitor, output }, updatedAt: new Date().toISOString() };
    if (fleet?.lastDecision) status.lastDecision = fleet.lastDecision;
    return status;
  }

  private async depth(q: Queue): Promise<QueueDepth | null> {
    try {
      return await q.depth();
    } catch (err) {
      this.logger.debug(`queue depth of ${q.url} unavailable: ${(err as Error).message}`);
      return null;
    }
  }

  private async fleet(): Promise<{ workers: WorkersDto | null; lastDecision?: Record<string, unknown> } | undefined> {
    const base = this.config.web.launchControllerUrl;
    if (!base) return undefined;
    try {
      const res = await fetch(`${base}/api/fleet`, { signal: AbortSignal.timeout(FLEET_TIMEOUT_MS) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const body = (await res.json()) as FleetAnswer;
      const count = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);
      const running = count(body.running);
      const free = count(body.free);
      const pending = count(body.pending);
      const workers = running !== undefined && free !== undefined ? { running, free, pending: pending ?? 0 } : null;
      const lastDecision =
        typeof body.lastDecision === 'object' && body.lastDecision !== null ? (body.lastDecision as Record<string, unknown>) : undefined;
      return { workers, lastDecision };
    } catch (err) {
      this.logger.debug(`launch controller at ${base} not answering: ${(err as Error).message}`);
      return undefined;
    }
  }
}
