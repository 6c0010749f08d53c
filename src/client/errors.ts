// What a failed call or a lost lease looks like to a library user: the gRPC/Connect code, the
// server's ErrorInfo reason and metadata, and the message, read once from connect-es's error.

import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/es/google/rpc/error_details_pb.js";

export interface ErrorDescription {
  /** The code's canonical name, e.g. "NOT_FOUND". */
  readonly code: string;
  /** The server's `google.rpc.ErrorInfo` reason, e.g. "POOL_EXHAUSTED"; "" when there is none. */
  readonly reason: string;
  readonly message: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/** "RESOURCE_EXHAUSTED" for Code.ResourceExhausted: the spelling of gRPC and of the README. */
export function codeName(code: Code): string {
  return (Code[code] ?? "UNKNOWN").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

export function describeError(e: unknown): ErrorDescription {
  const err = ConnectError.from(e);
  const info = err.findDetails(ErrorInfoSchema)[0];
  return { code: codeName(err.code), reason: info?.reason ?? "", message: err.rawMessage, metadata: { ...(info?.metadata ?? {}) } };
}

/**
 * Failures worth a retry: the server or the path to it was away, not a refusal of the request.
 * CANCELED counts too: every caller checks its own signal first, so a CANCELED left over is the
 * transport's (a stream reset by the server or a proxy, a connection cut under the call).
 */
export function isTransient(e: unknown): boolean {
  const code = ConnectError.from(e).code;
  return (
    code === Code.Unavailable || code === Code.Unknown || code === Code.DeadlineExceeded || code === Code.Aborted || code === Code.Internal || code === Code.Canceled
  );
}

/** Why a lease stopped counting as held; `lease.signal.reason` is a LeaseLostError. */
export type LeaseLostKind =
  /** No renewal was acknowledged in time: the server may already have expired it (stopped, slow, unreachable). */
  | "unproven"
  /** The server answered that the token is free: the lease expired or was released there. */
  | "not-held"
  /** The token is held under another generation (or owner): someone else has it now. */
  | "generation-changed"
  /** The token (or its pool) no longer exists. */
  | "token-gone"
  /** Ended here: `release()`, scope exit or `client.close()`. */
  | "released";

export class LeaseLostError extends Error {
  override readonly name = "LeaseLostError";
  constructor(
    readonly kind: LeaseLostKind,
    message: string,
  ) {
    super(`lease lost (${kind}): ${message}`);
  }
}

/** A watch asked for events older than the server keeps: re-read state, then watch from `oldestSequence`. */
export class SequenceCompactedError extends Error {
  override readonly name = "SequenceCompactedError";
  constructor(
    readonly pool: string,
    readonly afterSequence: bigint,
    readonly oldestSequence: bigint,
    message: string,
  ) {
    super(`SEQUENCE_COMPACTED: events after ${afterSequence} of pool ${pool} are gone (oldest kept: ${oldestSequence}): ${message}`);
  }
}

/** createTokenPoolClient was asked for a protocol this platform cannot speak: "grpc" in a browser. */
export class UnsupportedProtocolError extends Error {
  override readonly name = "UnsupportedProtocolError";
}
