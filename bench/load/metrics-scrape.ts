// Reads tokenpool's Prometheus text at /metrics: RPC outcomes by code (h2load cannot see gRPC
// trailers, so failed gRPC calls are counted here) and the expiry-lateness histogram.

export interface Scrape {
  /** RPCs answered with a code other than ok, summed over methods; undefined if not exported. */
  readonly rpcErrors: number | undefined;
  /** The same by method name (AssignToken, …), CANCELED left out: a row counts its own method's failures only. */
  readonly rpcErrorsByMethod: ReadonlyMap<string, number>;
  /** CANCELED by method: calls whose client went away, such as those in flight when h2load stops. */
  readonly rpcCancelledByMethod: ReadonlyMap<string, number>;
  readonly rpcOk: number | undefined;
  /** Cumulative lateness buckets (upper bound in seconds → count), when exported. */
  readonly latenessBuckets: ReadonlyArray<readonly [number, number]>;
}

export async function scrape(baseUrl: string): Promise<Scrape> {
  const res = await fetch(`${baseUrl}/metrics`);
  const body = await res.text();
  let ok: number | undefined;
  let errors: number | undefined;
  const buckets: Array<[number, number]> = [];
  const byMethod = new Map<string, number>();
  const cancelled = new Map<string, number>();
  for (const line of body.split("\n")) {
    if (line.startsWith("tokenpool_rpc_total{")) {
      const code = /code="([^"]*)"/.exec(line)?.[1];
      const method = /method="([^"]*)"/.exec(line)?.[1] ?? "";
      const value = Number(line.slice(line.lastIndexOf(" ") + 1));
      if (code === "ok") ok = (ok ?? 0) + value;
      else {
        errors = (errors ?? 0) + value;
        const counts = code === "canceled" ? cancelled : byMethod;
        counts.set(method, (counts.get(method) ?? 0) + value);
      }
      ok ??= 0;
      errors ??= 0;
    } else if (line.startsWith("tokenpool_expiry_lateness_seconds_bucket{")) {
      const le = /le="([^"]*)"/.exec(line)?.[1];
      if (le !== undefined) buckets.push([le === "+Inf" ? Infinity : Number(le), Number(line.slice(line.lastIndexOf(" ") + 1))]);
    }
  }
  return { rpcErrors: errors, rpcErrorsByMethod: byMethod, rpcCancelledByMethod: cancelled, rpcOk: ok, latenessBuckets: buckets };
}

/** The q-quantile of a cumulative histogram, interpolated linearly inside its bucket (as Prometheus does). */
export function histogramQuantile(buckets: ReadonlyArray<readonly [number, number]>, q: number): number | undefined {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted[sorted.length - 1]?.[1] ?? 0;
  if (total === 0) return undefined;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const [bound, count] of sorted) {
    if (count >= rank) {
      if (bound === Infinity) return prevBound;
      return prevBound + ((bound - prevBound) * (rank - prevCount)) / Math.max(1, count - prevCount);
    }
    prevBound = bound;
    prevCount = count;
  }
  return prevBound;
}

/** Bucket counts of `after` minus `before` (the observations made in between). */
export function bucketDelta(
  before: ReadonlyArray<readonly [number, number]>,
  after: ReadonlyArray<readonly [number, number]>,
): Array<readonly [number, number]> {
  const base = new Map(before.map(([b, c]) => [b, c]));
  return after.map(([b, c]) => [b, c - (base.get(b) ?? 0)] as const);
}
