// What an operation knows of the call that carries it, whatever the transport: enough to authenticate,
// to stop waiting when the call ends, and to name the client in logs. Nothing protocol-specific.

import type { HeaderGetter } from "./auth.js";

export interface CallContext {
  /**
   * Aborts when the call ends early: client gone, deadline passed, server shutting down. A waiting
   * AssignToken then returns CANCELLED and a watch ends; which of those it was is the transport's to
   * say (it owns the deadline), see service-api notes.
   */
  readonly signal: AbortSignal;
  /** A request header (gRPC metadata entry) by lower-case name; the credentials are read through it. */
  readonly header: HeaderGetter;
  /** The client address, for the auth failure log; undefined when unknown. */
  readonly peer: string | undefined;
  /**
   * True when the transport already ran the service's own PasswordCheck on these headers and it
   * passed (an early gate that answers a failing call before its body is read). The service then does
   * not hash the password a second time: that was 4-6 % of a gRPC call's CPU.
   */
  readonly authenticated?: boolean;
}
