/** What a load run measured, and how it is summarised. */
export interface RequestResult {
  name: string;
  ok: boolean;
  label?: string;
  error?: string;
  latencyMs: number;
  /** When the result arrived, ms since the run started. */
  doneAtMs: number;
}

export interface StatusSample {
  /** ms since the run started */
  t: number;
  running: number;
  free: number;
  pending: number;
  queued: number;
}

export interface LoadReport {
  requests: number;
  succeeded: number;
  failed: number;
  wallSeconds: number;
  latency: { avg: number; p50: number; p95: number; p99: number };
  agreement: { compared: number; agreed: number; percent: number } | null;
  peakWorkers: number | null;
  scaleInSeconds: number | null;
}

/**
 * The p-th percentile (nearest rank) of the samples, 0 when there are none.
 * The samples may come in any order (a sorted copy is ranked), so no caller
 * gets a wrong figure by passing them as they were collected.
 */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return 0;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/**
 * The middle sample of a sorted copy (the upper of the two middle ones for an even count),
 * NaN when there are none: the figure the benchmarks report over their rounds.
 */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) return NaN;
  return [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)];
}

/** Accepts `{ name: label }` and `{ name: { label } }`; keys may carry an extension. */
export function parseExpected(json: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (typeof json !== 'object' || json === null) throw new Error('--expected must hold a JSON object');
  for (const [k, v] of Object.entries(json as Record<string, unknown>)) {
    const label = typeof v === 'string' ? v : (v as { label?: unknown } | null)?.label;
    if (typeof label !== 'string') throw new Error(`--expected: "${k}" has no label`);
    out.set(stem(k), label);
  }
  return out;
}

export function stem(fileName: string): string {
  return fileName.replace(/\.[^./]+$/, '');
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

export function summarise(
  results: RequestResult[],
  wallMs: number,
  expected: Map<string, string> | undefined,
  samples: StatusSample[],
): LoadReport {
  const ok = results.filter((r) => r.ok);
  const lat = ok.map((r) => r.latencyMs).sort((a, b) => a - b);
  let agreement: LoadReport['agreement'] = null;
  if (expected) {
    const compared = ok.filter((r) => expected.has(stem(r.name)));
    const agreed = compared.filter((r) => expected.get(stem(r.name)) === r.label).length;
    agreement = { compared: compared.length, agreed, percent: compared.length ? round((100 * agreed) / compared.length) : 0 };
  }
  const alive = (s: StatusSample) => s.running + s.pending;
  const peakWorkers = samples.length ? Math.max(...samples.map(alive)) : null;
  let scaleInSeconds: number | null = null;
  const lastDone = Math.max(0, ...results.map((r) => r.doneAtMs));
  const zero = samples.find((s) => s.t >= lastDone && alive(s) === 0);
  if (zero && samples.some((s) => alive(s) > 0)) scaleInSeconds = round((zero.t - lastDone) / 1000);
  return {
    requests: results.length,
    succeeded: ok.length,
    failed: results.length - ok.length,
    wallSeconds: round(wallMs / 1000, 2),
    latency: {
      avg: lat.length ? Math.round(lat.reduce((a, b) => a + b, 0) / lat.length) : 0,
      p50: Math.round(percentile(lat, 50)),
      p95: Math.round(percentile(lat, 95)),
      p99: Math.round(percentile(lat, 99)),
    },
    agreement,
    peakWorkers,
    scaleInSeconds,
  };
}

export function formatReport(r: LoadReport): string {
  const lines = [
    `requests        ${r.requests}`,
    `succeeded       ${r.succeeded}`,
    `failed          ${r.failed}`,
    `wall seconds    ${r.wallSeconds}`,
    `latency ms      avg ${r.latency.avg}  p50 ${r.latency.p50}  p95 ${r.latency.p95}  p99 ${r.latency.p99}`,
    `agreement       ${r.agreement ? `${r.agreement.agreed}/${r.agreement.compared} (${r.agreement.percent} %)` : 'n/a (no --expected)'}`,
    `peak workers    ${r.peakWorkers ?? 'n/a (no status endpoint)'}`,
    `scale-in        ${r.scaleInSeconds === null ? 'n/a' : `${r.scaleInSeconds} s from the last result to zero workers`}`,
  ];
  return lines.join('\n');
}
