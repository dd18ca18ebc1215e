import type { Answer } from './ledger';
import type { ClassicOutcome } from './service-client';

/** A result in the output bucket, as the chaos run reads it. */
export interface StoredResult {
  imageId: string;
  fileName: string;
  status: 'ok' | 'error';
  label?: string;
  attempt?: number;
  producedBy?: string;
}

/** One image a classic request stored (or, when nothing of it is stored, the request itself), for the ledger. */
export interface ClassicEntry {
  /** The stored image's id; `classic:<name>` when the request stored nothing that can be found. */
  imageId: string;
  fileName: string;
  /** The file the client meant to send: every entry of one request counts as one image sent. */
  request: string;
  /** The answer in the request's own response, when it was answered there. */
  response?: Answer;
  /** Its result in the output bucket, when there is one. */
  stored?: StoredResult;
}

const requestOf = (name: string) => `classic:${name}`;

/**
 * The images classic requests stored, each joined to its request. A request
 * told which image it got (`Image-Id`) is settled by that id. One that never
 * got an answer naming an image (every try cut) is joined by its file name to
 * every stored result of that name that no request named and that is not
 * another image of the run (`isOther`): each of them is one of its copies, and
 * none is picked as "the" one.
 */
export function classicEntries(outcomes: Map<string, ClassicOutcome>, stored: StoredResult[], isOther: (imageId: string) => boolean = () => false): ClassicEntry[] {
  const byId = new Map(stored.map((r) => [r.imageId, r]));
  const named = new Set([...outcomes.values()].flatMap((o) => (o.imageId ? [o.imageId] : [])));
  const entries: ClassicEntry[] = [];
  for (const [name, outcome] of outcomes) {
    const response: Answer | undefined = outcome.kind === 'answered' ? { status: 'ok', label: outcome.label } : undefined;
    const base = { fileName: name, request: requestOf(name), ...(response && { response }) };
    if (outcome.imageId) {
      entries.push({ ...base, imageId: outcome.imageId, ...(byId.has(outcome.imageId) && { stored: byId.get(outcome.imageId) }) });
      continue;
    }
    const copies = stored.filter((r) => r.fileName === name && !named.has(r.imageId) && !isOther(r.imageId));
    if (copies.length === 0) entries.push({ ...base, imageId: requestOf(name) });
    for (const r of copies) entries.push({ ...base, imageId: r.imageId, stored: r });
  }
  return entries;
}

/**
 * The classic requests whose result may still be on its way to the bucket:
 * one that named an image without a stored result yet, and one that never
 * learnt its image, may have stored one (it was cut, answered, or refused for
 * a reason that is not about the request itself) and has no copy stored yet.
 */
export function awaitingResults(outcomes: Map<string, ClassicOutcome>, entries: ClassicEntry[]): string[] {
  return [...outcomes].flatMap(([name, outcome]) => {
    const mine = entries.filter((e) => e.request === requestOf(name));
    if (mine.some((e) => e.stored)) return [];
    const aboutTheRequest = outcome.kind === 'refused' && outcome.status < 500 && ![408, 409, 429].includes(outcome.status);
    return outcome.imageId || !aboutTheRequest ? [name] : [];
  });
}
