/** Percentiles and tables shared by the benches. */

/** The p-th percentile (0–100) of `values`, nearest-rank; NaN when empty. Sorts a copy. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((sorted.length * p) / 100) - 1))]!;
}

export const median = (values: number[]) => percentile(values, 50);

/** Prints rows as aligned columns, the first row being the header. */
export function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows)
    console.log(
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
}

/** Runs `callers` loops of `op` until `seconds` have passed; returns completed ops and per-op latencies (ms). */
export async function closedLoop(callers: number, seconds: number, op: (caller: number, i: number) => Promise<unknown>) {
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async (_, caller) => {
      for (let i = 0; performance.now() < end; i++) {
        const s = performance.now();
        await op(caller, i);
        latencies.push(performance.now() - s);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  return { ops: latencies.length, perSecond: latencies.length / elapsed, latencies };
}

/** Latencies (ms) of `n` serial calls. */
export async function serialLatencies(call: (i: number) => Promise<unknown>, n: number): Promise<number[]> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    await call(i);
    xs.push(performance.now() - s);
  }
  return xs;
}

/**
 * Calls `call` serially for `seconds`, so what is timed next is a running server's latency, not a
 * cold one's: a fresh server's CPU per call of one procedure falls from ~2.2–2.4 ms to ~1.2–1.4 ms
 * over its first ~10,000 calls (the trivial call, measured on this machine).
 */
export async function warmUp(call: (i: number) => Promise<unknown>, seconds: number): Promise<void> {
  const end = performance.now() + seconds * 1000;
  for (let i = 0; performance.now() < end; i++) await call(i);
}

/** BENCH_WARMUP_SECONDS: how long serial benches warm each side up (10 s). */
export const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 10);
