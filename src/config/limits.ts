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

/** Per-connection limits and timeouts the one-port listener applies before any request is routed. */
export interface ConnectionLimits {
  /** Open TCP connections across all clients; connections beyond it are closed on accept. */
  readonly maxConnections: number;
  /** Concurrent streams per HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS); extra ones are refused. */
  readonly maxConnectionStreams: number;
  /** Largest request header block, in bytes (HTTP/1.1 head; HTTP/2 header list). */
  readonly maxHeaderBytes: number;
  /** A new connection must show its protocol, and an HTTP/1.1 request its complete head, within this time. */
  readonly headersTimeoutMs: number;
  /** An HTTP/1.1 request (head and body) must have fully arrived within this time; 0 = no limit. */
  readonly requestTimeoutMs: number;
  /** A connection with no traffic (no request in flight on HTTP/1.1) is closed after this time. */
  readonly idleTimeoutMs: number;
  /** A response whose client has stopped reading is cut after this long without progress. */
  readonly writeStallTimeoutMs: number;
}

export const defaultConnectionLimits: ConnectionLimits = {
  maxConnections: 10_000,
  maxConnectionStreams: 1_000,
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  idleTimeoutMs: 5 * 60_000,
  writeStallTimeoutMs: 30_000,
};
