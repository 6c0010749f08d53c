// The one place where error values become wire errors: gRPC/Connect codes, a readable message,
// and a google.rpc.ErrorInfo detail (plus BadRequest for invalid fields) clients can switch on.

import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/es/google/rpc/error_details_pb.js";
import type { ServiceError } from "../service/service-error.js";

export type { ServiceError };

export const ERROR_DOMAIN = "tokenpool.dev";

interface WireError {
  readonly code: Code;
  readonly reason: string;
  readonly message: string;
  readonly metadata?: Record<string, string>;
}

export function describe(e: ServiceError): WireError {
  switch (e.code) {
    case "INVALID_ARGUMENT":
      return { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", message: `${e.field}: ${e.message}`, metadata: { field: e.field } };
    case "POOL_NOT_FOUND":
      return { code: Code.NotFound, reason: "POOL_NOT_FOUND", message: `pool "${e.pool}" not found`, metadata: { pool: e.pool } };
    case "POOL_EXISTS":
      return { code: Code.AlreadyExists, reason: "POOL_EXISTS", message: `pool "${e.pool}" already exists`, metadata: { pool: e.pool } };
    case "TOO_MANY_POOLS":
      return {
        code: Code.ResourceExhausted,
        reason: "TOO_MANY_POOLS",
        message: `too many pools (limit ${e.limit})`,
        metadata: { limit: String(e.limit) },
      };
    case "POOL_EXHAUSTED":
      // The starvation rule made visible: blocked assigns take freed tokens first, strictly FIFO.
      return {
        code: Code.NotFound,
        reason: "POOL_EXHAUSTED",
        message:
          e.waiters > 0
            ? `no free token in pool "${e.pool}": ${e.waiters} waiting AssignToken call(s) are queued and take freed tokens first; pass wait_timeout to queue too`
            : `no free token in pool "${e.pool}"`,
        metadata: { pool: e.pool, waiters: String(e.waiters) },
      };
    case "WAIT_TIMEOUT":
      return {
        code: Code.NotFound,
        reason: "POOL_EXHAUSTED",
        message: `no token of pool "${e.pool}" became free within wait_timeout`,
        metadata: { pool: e.pool },
      };
    case "POOL_FULL":
      return {
        code: Code.ResourceExhausted,
        reason: "POOL_FULL",
        message: `pool "${e.pool}" would exceed max_tokens ${e.maxTokens}`,
        metadata: { pool: e.pool, max_tokens: String(e.maxTokens) },
      };
    case "OWNER_QUOTA_EXCEEDED":
      return {
        code: Code.ResourceExhausted,
        reason: "OWNER_QUOTA_EXCEEDED",
        message: `owner "${e.owner}" would hold ${e.used + e.requested} leases of pool "${e.pool}", over its quota of ${e.limit} (holds or waits for ${e.used}, asked for ${e.requested})`,
        metadata: { pool: e.pool, owner: e.owner, limit: String(e.limit), used: String(e.used), requested: String(e.requested) },
      };
    case "TOKEN_NOT_FOUND":
      return { code: Code.NotFound, reason: "TOKEN_NOT_FOUND", message: `token "${e.token}" not found in pool "${e.pool}"`, metadata: { pool: e.pool, token: e.token } };
    case "TOKEN_EXISTS":
      return { code: Code.AlreadyExists, reason: "TOKEN_EXISTS", message: `token "${e.token}" already exists in pool "${e.pool}"`, metadata: { pool: e.pool, token: e.token } };
    case "NOT_HELD":
      return { code: Code.FailedPrecondition, reason: "NOT_HELD", message: `token "${e.token}" is not held`, metadata: { pool: e.pool, token: e.token } };
    case "LEASE_MISMATCH":
      return { code: Code.FailedPrecondition, reason: "LEASE_MISMATCH", message: e.message, metadata: { pool: e.pool, token: e.token } };
    case "UNAVAILABLE":
      return { code: Code.Unavailable, reason: "UNAVAILABLE", message: e.message };
    case "CANCELLED":
      return { code: Code.Canceled, reason: "CANCELLED", message: "the call was cancelled" };
    case "OUT_OF_RANGE":
      return {
        code: Code.OutOfRange,
        reason: "SEQUENCE_COMPACTED",
        message: `events after sequence ${e.requested} of pool "${e.pool}" are no longer retained; oldest available is ${e.oldestSequence}: re-read state, then resume`,
        metadata: { pool: e.pool, oldest_sequence: String(e.oldestSequence) },
      };
    case "SLOW_CONSUMER":
      return {
        code: Code.ResourceExhausted,
        reason: "SLOW_CONSUMER",
        message: `watcher fell more than ${e.limit} events behind; resume with after_sequence=${e.lastSequence}`,
        metadata: { pool: e.pool, last_sequence: String(e.lastSequence) },
      };
    case "POOL_DELETED":
      return { code: Code.NotFound, reason: "POOL_NOT_FOUND", message: `pool "${e.pool}" was deleted`, metadata: { pool: e.pool } };
    case "SHUTDOWN":
      return { code: Code.Unavailable, reason: "SHUTDOWN", message: "server is shutting down; reconnect and resume" };
    case "TOO_MANY_STREAMS":
      return {
        code: Code.ResourceExhausted,
        reason: "TOO_MANY_STREAMS",
        message: `too many concurrent streams (limit ${e.limit})`,
        metadata: { limit: String(e.limit) },
      };
    case "UNAUTHENTICATED":
      return {
        code: Code.Unauthenticated,
        reason: "UNAUTHENTICATED",
        message: "missing or wrong credentials: send X-API-PASSWORD or Authorization: Bearer",
      };
  }
}

export function toConnectError(e: ServiceError): ConnectError {
  const wire = describe(e);
  const details: ConstructorParameters<typeof ConnectError>[3] = [
    { desc: ErrorInfoSchema, value: { reason: wire.reason, domain: ERROR_DOMAIN, metadata: wire.metadata ?? {} } },
  ];
  if (e.code === "INVALID_ARGUMENT") {
    details.push({ desc: BadRequestSchema, value: { fieldViolations: [{ field: e.field, description: e.message }] } });
  }
  return new ConnectError(wellFormed(wire.message), wire.code, undefined, details);
}

/**
 * connect-es reports request bytes it cannot decode or decompress as INTERNAL, as the gRPC status-code
 * table prescribes for libraries; the code stays, but they are the client's doing, not a server fault.
 */
export function isUndecodableRequest(e: ConnectError): boolean {
  return e.code === Code.Internal && /^(parse binary: |decompression failed|received compressed envelope, but do not know how to decompress)/.test(e.rawMessage);
}

/**
 * A malformed request at the protocol level (before any tokenpool handler), reported the way connect-es
 * reports its own protocol errors: INVALID_ARGUMENT, no tokenpool ErrorInfo.
 */
export function protocolError(message: string): ConnectError {
  return new ConnectError(wellFormed(message), Code.InvalidArgument);
}

/**
 * Messages quote client strings (pool and token names), and a JSON client can send a lone surrogate
 * ("\ud800"). gRPC percent-encodes grpc-message with encodeURIComponent, which throws on one: the
 * call would never be answered. Lone surrogates become U+FFFD, as UTF-8 encoding does anyway.
 */
export function wellFormed(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
}
