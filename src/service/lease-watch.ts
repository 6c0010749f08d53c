// One open WatchLeases subscription as the service hands it to a transport: a pull-based async
// iterable of response messages (the consumer's pace is the backpressure: events wait in the store's
// bounded per-watcher buffer, which cuts a watcher that falls too far behind), and why it ended.

import type { WatchLeasesResponse } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import type { Watch } from "../store/store.js";
import type { ServiceError } from "./service-error.js";
import { shapeWatch, type WatchShape } from "./watch-shape.js";

export interface LeaseWatch extends AsyncIterable<WatchLeasesResponse> {
  /**
   * Once iteration has finished: the error the stream must end with (SLOW_CONSUMER, POOL_DELETED,
   * SHUTDOWN, OUT_OF_RANGE...), or undefined for a clean end or an end caused by the call's signal
   * (the transport reports those: cancel, deadline).
   */
  readonly endError: ServiceError | undefined;
  /** Frees the stream slot and the store's watch; idempotent. Call it however the stream ends. */
  close(): void;
  /**
   * Runs `listener` the moment the watch is cut for falling behind, even while the consumer is parked
   * on a write its client never lets finish: the transport decides how long to wait before it resets.
   */
  onCut(listener: () => void): void;
}

export interface LeaseWatchOptions {
  readonly shape: WatchShape;
  readonly signal: AbortSignal;
  readonly now: () => number;
  /** Gives the stream slot back. */
  readonly release: () => void;
  /** Told once, at the moment the watch was cut for falling behind (metrics). */
  readonly onDropped?: () => void;
}

export function openLeaseWatch(watch: Watch, options: LeaseWatchOptions): LeaseWatch {
  let closed = false;
  const { signal } = options;
  const cutListeners: (() => void)[] = [];
  // Counted from the cut itself, not when iteration ends: a consumer parked on a blocked write may
  // never get that far before its stream is reset.
  watch.onEnd((reason) => {
    if (reason?.code !== "SLOW_CONSUMER") return;
    options.onDropped?.();
    for (const listener of cutListeners) listener();
  });
  const close = (): void => {
    if (closed) return;
    closed = true;
    watch.end();
    options.release();
  };
  return {
    get endError(): ServiceError | undefined {
      return watch.endReason !== undefined && !signal.aborted ? watch.endReason : undefined;
    },
    close,
    onCut(listener) {
      if (watch.endReason?.code === "SLOW_CONSUMER") listener();
      else cutListeners.push(listener);
    },
    async *[Symbol.asyncIterator]() {
      const stop = (): void => watch.end();
      signal.addEventListener("abort", stop, { once: true });
      try {
        yield* shapeWatch(watch, options.shape, signal, options.now);
      } finally {
        signal.removeEventListener("abort", stop);
        close();
      }
    },
  };
}
