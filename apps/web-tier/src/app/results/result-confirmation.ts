import { isDeepStrictEqual } from 'node:util';
import type { OutputMessage } from '@app/contracts';

/**
 * What the output bucket says of an announced result. A worker decodes
 * untrusted bytes, so its announcement is a claim, not an answer: the answer
 * is the result stored under the image id, which nobody can overwrite (the
 * bucket refuses any write there but a conditional create).
 * - `confirmed`: the stored result is the announced one;
 * - `replaced`: another result is stored (a forged or mistaken announcement):
 *   the stored one is served;
 * - `not-stored`: nothing is stored, so it is nobody's answer (every writer
 *   stores before it announces): the announcement is ignored.
 */
export type Confirmation =
  | { verdict: 'confirmed'; result: OutputMessage }
  | { verdict: 'replaced'; result: OutputMessage }
  | { verdict: 'not-stored' };

export function confirmAgainstStored(announced: OutputMessage, stored: OutputMessage | undefined): Confirmation {
  if (!stored) return { verdict: 'not-stored' };
  return isDeepStrictEqual(stored, announced) ? { verdict: 'confirmed', result: stored } : { verdict: 'replaced', result: stored };
}
