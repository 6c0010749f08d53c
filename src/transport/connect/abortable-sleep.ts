// Timers that a cancelled call cuts short, for long-lived streams that wait between messages.

export interface Sleep {
  /** Resolves when the time is up, the signal aborts, or cancel() is called. */
  readonly done: Promise<void>;
  /** Stops the timer and drops the abort listener now (the loser of a race must not linger). */
  cancel(): void;
}

/**
 * A sleep of `ms` ended early by `signal`. Its listener is removed however it ends: a stream that
 * sleeps in a loop would otherwise add one listener per turn to the call's signal, and a sleep that
 * lost a race would keep a timer alive until it fired.
 */
export function sleepFor(ms: number, signal: AbortSignal): Sleep {
  let timer: NodeJS.Timeout | undefined;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    finish = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", finish);
      resolve();
    };
  });
  timer = setTimeout(finish, Math.max(0, ms));
  signal.addEventListener("abort", finish, { once: true });
  return { done, cancel: finish };
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return sleepFor(ms, signal).done;
}
