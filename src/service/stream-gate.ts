// Counts open WatchLeases streams against the limit, across every transport.

export interface StreamGate {
  /** Takes a stream slot, or says no when the limit is reached. */
  tryAcquire(): boolean;
  release(): void;
}

/** Counts open streams against a fixed limit. */
export function createStreamGate(limit: number): StreamGate & { readonly open: () => number } {
  let open = 0;
  return {
    tryAcquire: () => (open < limit ? (open++, true) : false),
    release: () => void (open = Math.max(0, open - 1)),
    open: () => open,
  };
}
