// What every hostile-request generator shares: the limits it aims just past (the server's own
// defaults), the case it yields, and the pools, tokens and owners generated requests share.

import type { Limits } from "../../../src/config/limits.js";
import type { WireRequest } from "../raw-sender.js";

/** Server limits the generators aim just past (by default the server's own, `defaultLimits`). */
export type FuzzLimits = Pick<Limits, "maxRequestBytes" | "maxBatchTokens" | "maxStringLength">;

export interface FuzzCase {
  /** Which generator made it, for the per-family counts. */
  readonly family: string;
  readonly request: WireRequest;
  /** A short human description (the request is also printed on a violation). */
  readonly note: string;
  /** Overrides how long the sender waits for this response. */
  readonly timeoutMs?: number;
}

/** Pools and tokens the generated requests share, so calls interact instead of all missing. */
export const FUZZ_POOLS = ["fz-a", "fz-b", "fz-c"] as const;
export const POOLS = ["default", ...FUZZ_POOLS];
export const TOKENS = ["t0", "t1", "t2", "t3", "t4", "t5"];
export const OWNERS = ["", "o1", "o2", "legacy"];
export const REFLECTION_NAMES = [
  "",
  "tokenpool/v1/token_service.proto",
  "tokenpool.v1.TokenService",
  "tokenpool.v1.TokenService.AssignToken",
  "tokenpool.v1.Pool",
  "google.rpc.ErrorInfo",
  "grpc.health.v1.Health",
  "nope.Nope",
];

export type Protocol = "grpc" | "grpc-web" | "connect";
export type Codec = "proto" | "json";

export interface CaseContext {
  readonly password: string;
  readonly limits: FuzzLimits;
}
