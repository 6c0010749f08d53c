// The one sleep of tests, benches and scripts: a timer as a promise, cut short when `signal` aborts.

/** Resolves after `ms`, or as soon as `signal` aborts; leaves no timer or listener behind either way. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
