import { setTimeout as sleep } from 'node:timers/promises';
import type { AwsClients, AwsResources } from '@app/aws';
import { heartbeatKey, parseHeartbeat, RESULT_PREFIX } from '@app/contracts';
import { resourcesOf, type LocalSystem } from '@tools/local-run';
import type { Answer, AnswerLedger } from './ledger';
import { awaitingResults, classicEntries, type ClassicEntry, type StoredResult } from './ledger-classic';
import { answerOfView, type ClassicOutcome, type ServiceClient } from './service-client';

const RESULT_KEY = /^results\/[0-9a-f-]{36}\.json$/;

const answerOfStored = (r: StoredResult): Answer => ({ status: r.status, label: r.label, attempt: r.attempt, producedBy: r.producedBy });

/**
 * Watches every channel a user can get an answer from — the event stream and
 * the REST API while the run goes on, then the output bucket and the REST API
 * again at the end — and records each answer in the ledger.
 */
export class ResultTracker {
  private readonly resources: AwsResources;
  private readonly clients: AwsClients;

  constructor(
    private readonly client: ServiceClient,
    private readonly ledger: AnswerLedger,
    system: LocalSystem,
  ) {
    // Straight to the embedded S3, not through the edge proxy a chaos run cuts.
    ({ resources: this.resources, clients: this.clients } = resourcesOf(system));
  }

  /** Closes its S3 connections (kept alive, they would hold the process open). */
  close(): void {
    this.clients.destroy();
  }

  /** Follows one batch on its event stream and by polling its REST view, until `signal` aborts. */
  watchBatch(batchId: string, signal: AbortSignal, channels = { events: true }): void {
    if (channels.events)
      void this.client.followEvents(
      batchId,
      (v) => {
        const a = answerOfView(v);
        if (a && this.ledger.has(v.imageId)) this.ledger.see(v.imageId, 'sse', a);
      },
      signal,
    );
    void this.pollBatch(batchId, signal);
  }

  private async pollBatch(batchId: string, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const view = await this.client.batch(batchId);
      for (const v of view?.images ?? []) {
        const a = answerOfView(v);
        if (a && this.ledger.has(v.imageId)) this.ledger.see(v.imageId, 'rest-batch', a);
      }
      if (view?.finished) return;
      await sleep(500);
    }
  }

  /** The images a worker's last heartbeat says it held (none when it never wrote one). */
  async heldBy(workerId: string): Promise<string[]> {
    try {
      const body = (await this.resources.outputBucket.getBuffer(heartbeatKey(workerId))).toString('utf8');
      return parseHeartbeat(body).held.map((h) => h.imageId);
    } catch {
      return [];
    }
  }

  /** Results in the output bucket, by image id. */
  async storedResults(): Promise<Map<string, StoredResult>> {
    const out = new Map<string, StoredResult>();
    for (const { key } of await this.resources.outputBucket.list(RESULT_PREFIX)) {
      if (!RESULT_KEY.test(key)) continue;
      const r = JSON.parse((await this.resources.outputBucket.getBuffer(key)).toString('utf8')) as StoredResult;
      out.set(r.imageId, r);
    }
    return out;
  }

  /**
   * Classic requests join the account by the image each one's response named
   * (`Image-Id`); one that never got such an answer, by its file name, with
   * every stored copy of that name (see classicEntries). A request counts as
   * answered in its response, or, for an image it did not get an answer for,
   * when the REST API serves that image's one result.
   */
  async settleClassic(outcomes: Map<string, ClassicOutcome>, t0: number, deadline: number, counts: { answered: number; cut: number; refused: number }): Promise<void> {
    // Batch images are the run's other images: a classic file of the same name is not one of their copies.
    const isBatchImage = (id: string) => this.ledger.has(id);
    let entries: ClassicEntry[];
    for (;;) {
      entries = classicEntries(outcomes, [...(await this.storedResults()).values()], isBatchImage);
      if (awaitingResults(outcomes, entries).length === 0 || Date.now() > deadline) break;
      await sleep(1000);
    }
    for (const outcome of outcomes.values()) {
      if (outcome.kind === 'answered') counts.answered += 1;
      else if (outcome.kind === 'cut') counts.cut += 1;
      else counts.refused += 1;
    }
    for (const e of entries) {
      this.ledger.accept(e.imageId, e.fileName, 'classic', e.request);
      const outcome = outcomes.get(e.fileName);
      if (e.response && outcome) this.ledger.see(e.imageId, 'classic', e.response, t0 + outcome.ms);
      if (e.stored) this.ledger.see(e.imageId, 'bucket', answerOfStored(e.stored));
      if (e.response || (!e.stored && !outcome?.imageId)) continue;
      const view = await this.untilTerminal(e.imageId, deadline);
      const a = view && answerOfView(view);
      if (a) this.ledger.see(e.imageId, 'rest-image', a);
    }
  }

  /** Every image's answer from the REST API and from the bucket, once the run is over. */
  async verifyEverywhere(deadline: number): Promise<void> {
    const stored = await this.storedResults();
    for (const id of this.ledger.ids()) {
      if (id.startsWith('classic:')) continue;
      const r = stored.get(id);
      if (r) this.ledger.see(id, 'bucket', answerOfStored(r));
      if (!r && !this.ledger.isAnswered(id)) continue;
      const view = await this.untilTerminal(id, deadline);
      const a = view && answerOfView(view);
      if (a) this.ledger.see(id, 'rest-image', a);
    }
  }

  /** The REST view of an image once it is terminal, waiting a little for a web tier that is restarting. */
  private async untilTerminal(imageId: string, deadline: number) {
    const end = Math.min(deadline, Date.now() + 15_000);
    for (;;) {
      const v = await this.client.image(imageId);
      if ((v && v.status !== 'queued') || Date.now() > end) return v;
      await sleep(500);
    }
  }
}
