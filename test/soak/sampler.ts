// Samples the server's own view of itself from /metrics (prom-client's process and Node.js metrics)
// at a fixed interval, and judges whether memory grows: the trend, over the second half of the run,
// of the samples taken right after a major GC — the floor of V8's sawtooth, which otherwise swings by
// tens of MiB over a cycle of ~20 s and would pass for growth in any short stretch.

import { quantile } from "../harness/stats.js";

export interface Sample {
  /** Seconds since the load started. */
  readonly t: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** p99 / max event-loop delay over the interval since the previous scrape (prom-client resets it). */
  readonly lagP99Seconds: number;
  readonly lagMaxSeconds: number;
  readonly watchStreams: number;
  /** Server-side count of RPCs finished so far. */
  readonly rpcTotal: number;
  /** Major (mark-compact) collections so far. */
  readonly majorGcs: number;
}

/**
 * Sums each metric's series by name (registry prefix stripped); a series also counts, under
 * `name{label}`, for each of its label pairs, so `gc_count{kind="major"}` can be read on its own.
 */
export function parseMetrics(text: string, prefix = "tokenpool_"): Map<string, number> {
  const out = new Map<string, number>();
  const add = (k: string, v: number): void => void out.set(k, (out.get(k) ?? 0) + v);
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const nameEnd = line.search(/[{ ]/);
    const name = line.slice(0, nameEnd).replace(prefix, "");
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (!Number.isFinite(value)) continue;
    add(name, value);
    const labels = line[nameEnd] === "{" ? line.slice(nameEnd + 1, line.lastIndexOf("}")) : "";
    for (const pair of labels.match(/[a-zA-Z_]+="(?:[^"\\]|\\.)*"/g) ?? []) add(`${name}{${pair}}`, value);
  }
  return out;
}

export async function scrape(baseUrl: string, startedAt: number): Promise<Sample> {
  const res = await fetch(`${baseUrl}/metrics`);
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  const m = parseMetrics(await res.text());
  const need = (name: string): number => {
    const v = m.get(name);
    if (v === undefined) throw new Error(`/metrics has no ${name}`);
    return v;
  };
  return {
    t: (Date.now() - startedAt) / 1000,
    rssBytes: need("process_resident_memory_bytes"),
    heapUsedBytes: need("nodejs_heap_size_used_bytes"),
    lagP99Seconds: need("nodejs_eventloop_lag_p99_seconds"),
    lagMaxSeconds: need("nodejs_eventloop_lag_max_seconds"),
    watchStreams: m.get("watch_streams") ?? 0,
    rpcTotal: m.get("rpc_total") ?? 0,
    majorGcs: m.get('nodejs_gc_duration_seconds_count{kind="major"}') ?? 0,
  };
}

export interface Trend {
  /** Least-squares slope of the post-GC samples, bytes per minute. */
  readonly slopePerMinute: number;
  /** That slope over the second half of the run: what it grew by, give or take the noise. */
  readonly growthBytes: number;
  /** Post-GC samples the line was fitted through. */
  readonly points: number;
}

/** Fewer major GCs than this in the second half and there is no telling a trend from one cycle. */
const MIN_POINTS = 3;

/**
 * Growth of a sawtooth series: a line through the samples of the second half that are the first after
 * a major GC, fitted Theil–Sen (the median of the pairwise slopes), so that one excursion — V8 letting
 * garbage pile up for a while before a late mark-compact — does not pass for a trend. Undefined
 * (inconclusive) with fewer than three such samples, which is the case in runs much shorter than a minute.
 */
export function postGcTrend(samples: readonly Sample[], pick: (s: Sample) => number): Trend | undefined {
  if (samples.length < 2) return undefined;
  const end = samples[samples.length - 1]!.t;
  const points: [number, number][] = [];
  for (let i = 1; i < samples.length; i++) {
    const s = samples[i]!;
    if (s.t >= end / 2 && s.majorGcs > samples[i - 1]!.majorGcs) points.push([s.t, pick(s)]);
  }
  if (points.length < MIN_POINTS) return undefined;
  const slopes: number[] = [];
  for (let i = 0; i < points.length; i++) {
    for (let j = i + 1; j < points.length; j++) {
      const [xi, yi] = points[i]!;
      const [xj, yj] = points[j]!;
      if (xj > xi) slopes.push((yj - yi) / (xj - xi));
    }
  }
  const perSecond = slopes.length > 0 ? quantile(slopes, 0.5) : 0;
  return { slopePerMinute: perSecond * 60, growthBytes: perSecond * (end / 2), points: points.length };
}

