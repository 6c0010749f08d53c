// Per-request limits the transport enforces before anything reaches the store.

export interface Limits {
  /** Largest request body accepted, in bytes (protocol-level, enforced by Connect). */
  readonly maxRequestBytes: number;
  /** Most token ids in one KeepAlive or GenerateTokens call. */
  readonly maxBatchTokens: number;
  /** Largest GenerateTokens count / CreatePool initial_tokens. */
  readonly maxGenerateCount: number;
  /** Concurrent WatchLeases streams across all clients. */
  readonly maxStreams: number;
  /** Longest lease TTL a pool or an assign may ask for. */
  readonly maxLeaseTtlMs: number;
  /** Longest idle TTL a pool may ask for. */
  readonly maxIdleTtlMs: number;
  /** Longest wait_timeout honoured by a blocking AssignToken. */
  readonly maxWaitMs: number;
  /** Longest owner, request_id or token id, in characters. */
  readonly maxStringLength: number;
}

export const defaultLimits: Limits = {
  maxRequestBytes: 4 * 1024 * 1024,
  maxBatchTokens: 10_000,
  maxGenerateCount: 100_000,
  maxStreams: 1_000,
  maxLeaseTtlMs: 30 * 24 * 3600 * 1000,
  maxIdleTtlMs: 365 * 24 * 3600 * 1000,
  maxWaitMs: 10 * 60 * 1000,
  maxStringLength: 256,
};
