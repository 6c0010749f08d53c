// A pool's lease events as an async iterable that survives disconnects: it reconnects with backoff
// and asks for the events after the last one it delivered, so none is lost or repeated. When the
// server no longer has them it throws SequenceCompactedError (re-read state, then watch again).

import type { Client } from "@connectrpc/connect";
import { describeError, isTransient, SequenceCompactedError } from "./errors.js";
import { backoff, linkSignals, sleep } from "./timing.js";
import type { LeaseEvent, LeaseEventType, TokenService } from "../../gen/es/tokenpool/v1/token_service_pb.js";

export interface WatchOptions {
  /**
   * Replay the retained events after this sequence first (0: from the pool's first event). Default: the
   * pool's sequence when the watch starts, so it delivers what happens from then on, reconnects included.
   */
  readonly afterSequence?: bigint | undefined;
  readonly types?: readonly LeaseEventType[] | undefined;
  readonly owner?: string | undefined;
  /** Ends the iteration (no error). */
  readonly signal?: AbortSignal | undefined;
  /** Called on each reconnect attempt, e.g. to log it. */
  readonly onReconnect?: ((error: unknown, attempt: number) => void) | undefined;
}

/**
 * Failures after which resuming is right: the server went away, ended the stream, or cut a slow reader.
 * (isTransient counts CANCELED: connect-node reports an HTTP/2 connection that died with the server,
 * kill -9, as a stream reset with CANCEL; the caller's own abort never gets here).
 */
function resumable(e: unknown): boolean {
  const d = describeError(e);
  return isTransient(e) || d.reason === "SHUTDOWN" || d.reason === "SLOW_CONSUMER" || d.reason === "UNAVAILABLE";
}

export async function* watchPool(service: Client<typeof TokenService>, pool: string, o: WatchOptions, closed: AbortSignal): AsyncGenerator<LeaseEvent> {
  const linked = o.signal ? linkSignals(o.signal, closed) : undefined;
  try {
    yield* resumingWatch(service, pool, o, linked?.signal ?? closed);
  } finally {
    linked?.unlink();
  }
}

async function* resumingWatch(service: Client<typeof TokenService>, pool: string, o: WatchOptions, signal: AbortSignal): AsyncGenerator<LeaseEvent> {
  // Always a known sequence, never "live only": then even a stream that breaks before its first event
  // resumes without a gap. A pool without events has sequence 0, which with resume replays from its first.
  let after: bigint | undefined = o.afterSequence;
  let attempt = 0;
  while (!signal.aborted) {
    try {
      // Inside the retry: a server unreachable at the start is waited for like one lost later.
      after ??= (await service.getPool({ name: pool }, { signal })).pool?.sequence ?? 0n;
      const stream = service.watchLeases({ pool, afterSequence: after, resume: true, types: [...(o.types ?? [])], owner: o.owner ?? "" }, { signal });
      for await (const m of stream) {
        attempt = 0;
        if (m.kind.case !== "event") continue;
        after = m.kind.value.sequence;
        yield m.kind.value;
      }
    } catch (e) {
      if (signal.aborted) return;
      const d = describeError(e);
      if (d.reason === "SEQUENCE_COMPACTED") throw new SequenceCompactedError(pool, after ?? 0n, BigInt(d.metadata.oldest_sequence ?? "0"), d.message);
      if (!resumable(e)) throw e;
      o.onReconnect?.(e, attempt);
    }
    // The stream ended or broke: back off, then resume after the last delivered event.
    await sleep(backoff(attempt++, 100, 5_000), signal);
  }
}
