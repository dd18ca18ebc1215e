import { randomUUID } from 'node:crypto';
import { TEST_RUN_VARIABLE } from '../processes';

/** Names this Jest run; the test workers inherit it, and the helpers mark what they start with it. */
export default function globalSetup(): void {
  process.env[TEST_RUN_VARIABLE] ??= randomUUID();
}
