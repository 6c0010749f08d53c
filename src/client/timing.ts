// Time helpers of the client: the monotonic clock every lease proof is measured on, jittered delays,
// backoff, an abortable sleep, and protobuf Duration/Timestamp conversions.

import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";

/** Monotonic milliseconds: wall-clock steps (NTP, suspend adjustments) never move a lease deadline. */
export const monotonicNow = (): number => performance.now();

/** `ms` scaled by a random factor in [1 - spread, 1 + spread], so many clients never renew in lockstep. */
export function jittered(ms: number, spread = 0.1): number {
  return ms * (1 - spread + 2 * spread * Math.random());
}

/** Exponential backoff with full jitter: attempt 0 → up to base, doubling up to cap. */
export function backoff(attempt: number, baseMs: number, capMs: number): number {
  return Math.random() * Math.min(capMs, baseMs * 2 ** Math.min(attempt, 20));
}

/** Resolves after `ms`, or at once (without throwing) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

export function durationMs(d: Duration | undefined): number {
  return d ? Number(d.seconds) * 1000 + Math.round(d.nanos / 1e6) : 0;
}

export function msDuration(ms: number): { seconds: bigint; nanos: number } {
  const whole = Math.floor(ms / 1000);
  return { seconds: BigInt(whole), nanos: Math.round((ms - whole * 1000) * 1e6) };
}

export function timestampDate(t: Timestamp | undefined): Date {
  return new Date(t ? Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6) : 0);
}

/**
 * A signal that aborts when any of `signals` does; `unlink()` drops its listeners once it is no longer
 * needed (a long-lived client signal would otherwise collect one per call). Not AbortSignal.any(): on
 * Node 20 the signals it combines can be collected before they fire (AbortSignal.timeout() in
 * particular), and then it never aborts.
 */
export function linkSignals(...signals: AbortSignal[]): { signal: AbortSignal; unlink(): void } {
  const c = new AbortController();
  const links = new AbortController();
  for (const s of signals) {
    if (s.aborted) {
      c.abort(s.reason);
      break;
    }
    s.addEventListener("abort", () => c.abort(s.reason), { once: true, signal: links.signal });
  }
  return { signal: c.signal, unlink: () => links.abort() };
}
