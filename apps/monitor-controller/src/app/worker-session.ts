import type { Heartbeat, MonitorMessage } from '@app/contracts';
import type { WorkerView } from './worker-watch';

/** The heartbeat lists this very take (image, attempt and hand-back count). */
export const listed = (list: Heartbeat['held'] | undefined, msg: MonitorMessage) =>
  list?.some((h) => h.imageId === msg.imageId && h.attempt === msg.attempt && (h.handBacks ?? 0) === (msg.handBacks ?? 0)) ?? false;

/** The heartbeat was written after this take began. */
const writtenSince = (hb: Heartbeat, msg: MonitorMessage) => Date.parse(hb.at) >= Date.parse(msg.startedAt);

/**
 * The process that took the image is gone though its instance lives: a newer
 * session of the worker (a restarted process, same instance id) wrote the
 * heartbeat after the take began, and does not hold the image. Nothing will
 * finish it, so it is retried at once, without ending the (healthy) instance.
 */
export function lostToRestart(msg: MonitorMessage, hb: Heartbeat | undefined): boolean {
  if (!msg.session || !hb?.session || hb.session === msg.session) return false;
  return writtenSince(hb, msg) && !listed(hb.held, msg);
}

/**
 * The session that took the image has finished with it, having announced its
 * result: it is the heartbeat's session, wrote it after the take began, and
 * lists the take neither as held nor as handed back or failed (a worker drops
 * a take from its heartbeat only after its output message is sent). The
 * session must still run, or have stopped cleanly (its final heartbeat): a
 * process that died may have died between writing a result and announcing it.
 */
export function finishedBySession(msg: MonitorMessage, view: WorkerView): boolean {
  const hb = view.heartbeat;
  if (!msg.session || !hb || hb.session !== msg.session || !writtenSince(hb, msg)) return false;
  if (view.liveness === 'gone' && !hb.final) return false;
  return !listed(hb.held, msg) && !listed(hb.handedBack, msg) && !listed(hb.failed, msg);
}
