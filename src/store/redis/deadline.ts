// Time bounds for Redis calls that hold whatever ioredis does with a command: an auto-pipelined
// command waits for the pipeline before it, so against a stopped Redis a call could otherwise sit
// through several command timeouts. Scripts also carry a "not after" time so a late one does nothing.

/** The message tells the caller the outcome is unknown (see unavailableMessage). */
export class RedisTimeoutError extends Error {
  constructor(ms: number) {
    super(`Redis call timed out after ${ms} ms`);
  }
}

/** A script that reached Redis after its deadline refused to run: surely not applied. */
export class RedisLateError extends Error {
  constructor() {
    super("the call reached Redis after its deadline and was refused there; it was not applied");
  }
}

/** Settles like `work`, or rejects with RedisTimeoutError once `ms` have passed. */
export function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisTimeoutError(ms)), Math.max(0, ms));
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}

/**
 * ARGV[1] of a pool script: the stream length to keep and, after a colon, the Redis time (ms) after
 * which the script must not run (the prelude checks it against TIME).
 */
export function ringAndDeadline(ring: number, notAfterRedisMs: number): string {
  return `${ring}:${Math.floor(notAfterRedisMs)}`;
}
