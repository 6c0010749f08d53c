// fast-check generators of hostile requests: random and mutated protobuf for every served RPC over
// gRPC, gRPC-Web and Connect, random and malformed JSON, broken envelopes, content types, timeouts,
// compression, oversized bodies/headers/token lists, Connect GETs, legacy routes with odd query
// strings, and raw malformed HTTP/1.1. Messages are built from the descriptors, so new RPCs are covered.

import fc from "fast-check";
import type { CaseContext, FuzzCase } from "./common.js";
import { compressionFamily, contentTypeFamily, envelopeFamily, messagesFamily, oversizeFamily, timeoutFamily, truncatedFamily, unknownMethodFamily } from "./rpc-families.js";
import { connectGetFamily, httpRoutesFamily, rawFamily } from "./http-families.js";

export type { CaseContext, FuzzCase, FuzzLimits } from "./common.js";
export { regressionCases } from "./regressions.js";

/** Every family, weighted: most traffic is well-framed RPCs with hostile payloads. */
export function fuzzCases(ctx: CaseContext): fc.Arbitrary<FuzzCase> {
  return fc.oneof(
    { arbitrary: messagesFamily(ctx, "valid", "proto"), weight: 14 },
    { arbitrary: messagesFamily(ctx, "mutated", "proto"), weight: 14 },
    { arbitrary: messagesFamily(ctx, "random", "proto"), weight: 8 },
    { arbitrary: messagesFamily(ctx, "valid", "json"), weight: 14 },
    { arbitrary: envelopeFamily(ctx), weight: 8 },
    { arbitrary: compressionFamily(ctx), weight: 4 },
    { arbitrary: contentTypeFamily(ctx), weight: 5 },
    { arbitrary: timeoutFamily(ctx), weight: 6 },
    { arbitrary: oversizeFamily(ctx), weight: 2 },
    { arbitrary: connectGetFamily(ctx), weight: 5 },
    { arbitrary: httpRoutesFamily(ctx), weight: 12 },
    { arbitrary: rawFamily(ctx), weight: 3 },
    { arbitrary: truncatedFamily(ctx), weight: 2 },
    { arbitrary: unknownMethodFamily(ctx), weight: 3 },
  );
}
