// The hand-written KeepAliveResponse JSON encoder (service/keep-alive-json.ts) must give exactly the text
// protobuf-es's toJsonString gives for the messages the service builds (messages.ts), for any store
// records, and throw the same error where toJsonString refuses one (a time outside protobuf JSON's range):
// random records, and the edges of each field (empty, unicode, lone surrogates, characters JSON escapes,
// the safe-integer limits, negative and sub-second durations, absent lease and times).

import { equals, fromJsonString, toJsonString } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KeepAliveResponseSchema, type KeepAliveResponse } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import type { KeepAliveResult, Lease } from "../../src/core/types.js";
import { keepAliveResponseJson } from "../../src/service/keep-alive-json.js";
import { keepAliveResultMessage } from "../../src/service/messages.js";

const MAX = Number.MAX_SAFE_INTEGER;
const MIN = Number.MIN_SAFE_INTEGER;
/** protobuf JSON's Timestamp range, 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z, in ms. */
const T_MIN = -62_135_596_800_000;
const T_MAX = 253_402_300_799_999;

function reference(results: readonly KeepAliveResult[]): KeepAliveResponse {
  return { $typeName: "tokenpool.v1.KeepAliveResponse", results: results.map(keepAliveResultMessage) };
}

const hasLoneSurrogate = (s: string): boolean => /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);

/** toJsonString's text, or the message it throws with. */
function outcome(encode: () => string): { text: string } | { error: string } {
  try {
    return { text: encode() };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

const surrogateHalf = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const char = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }) },
  { weight: 3, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: surrogateHalf },
  { weight: 1, arbitrary: fc.constantFrom('"', "\\", "\n", "\u0000", "\u001f", "\u007f", "\u2028", "</") },
);
const text = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: char, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom("", "é", "所有者", "🔑owner", "\ud800", "a\udfffb", '"quoted"', "back\\slash", "x".repeat(200)) },
);
const edges = [0, 1, 999, 1000, 1001, 1500, 2 ** 31, 2 ** 32, 2 ** 53 - 1];
const natural = fc.oneof(fc.constantFrom(...edges), fc.nat(), fc.maxSafeNat());
// Times: mostly inside the JSON range (where the text must match), some outside (where the error must).
const time = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: T_MIN, max: T_MAX }) },
  { weight: 2, arbitrary: fc.constantFrom(0, -1, -999, -1000, -1001, 1, 999, T_MIN, T_MIN - 1, T_MAX, T_MAX + 1, 1_765_000_000_000) },
  { weight: 1, arbitrary: fc.maxSafeInteger() },
);
const ttl = fc.oneof(fc.constantFrom(0, 1, -1, 500, -500, 1000, -1000, -1500, 3_600_000, MAX, MIN, 315_576_000_000_999, 315_576_000_001_000), fc.integer(), fc.maxSafeInteger());
const lease: fc.Arbitrary<Lease> = fc.record({
  pool: text,
  token: text,
  owner: text,
  generation: natural,
  expireTime: time,
  idleExpireTime: fc.option(time, { nil: undefined }),
  leaseTtlMs: ttl,
  requestId: fc.option(text, { nil: undefined }),
});
const result: fc.Arbitrary<KeepAliveResult> = fc.record({
  token: text,
  status: fc.constantFrom("ok" as const, "not_found" as const),
  lease: fc.option(lease, { nil: undefined }),
  idleExpireTime: fc.option(time, { nil: undefined }),
});
const results = fc.oneof({ weight: 4, arbitrary: fc.array(result, { maxLength: 6 }) }, { weight: 1, arbitrary: fc.array(result, { minLength: 100, maxLength: 120 }) });

describe("KeepAliveResponse JSON encoder", () => {
  it("writes toJsonString's text for random records (or throws its error), and it parses back to the same message", () => {
    // What the runs covered: each must be reached, or the property proved nothing there.
    const seen = { empty: 0, encoded: 0, refused: 0, missingLease: 0, notFound: 0, loneSurrogate: 0, escaped: 0, negativeTtl: 0, subSecondNegative: 0, beyond32Bits: 0 };
    fc.assert(
      fc.property(results, (rs) => {
        const expected = outcome(() => toJsonString(KeepAliveResponseSchema, reference(rs)));
        const ours = outcome(() => keepAliveResponseJson(rs));
        expect(ours).toEqual(expected);
        const lone = rs.some((r) => [r.token, r.lease?.owner ?? "", r.lease?.pool ?? "", r.lease?.token ?? ""].some(hasLoneSurrogate));
        if ("text" in ours) {
          seen.encoded++;
          // Parsed strictly (unknown fields refused): every name written is one the schema knows. A
          // lone surrogate is written escaped, as toJsonString does, but protobuf-es refuses to read one.
          if (!lone) expect(equals(KeepAliveResponseSchema, fromJsonString(KeepAliveResponseSchema, ours.text), reference(rs))).toBe(true);
        } else seen.refused++;
        if (lone) seen.loneSurrogate++;
        if (rs.length === 0) seen.empty++;
        for (const r of rs) {
          if (!r.lease) seen.missingLease++;
          if (r.status === "not_found") seen.notFound++;
          const strings = [r.token, r.lease?.owner ?? "", r.lease?.pool ?? "", r.lease?.token ?? ""];
          if (strings.some((s) => /["\\\u0000-\u001f]/.test(s))) seen.escaped++;
          const t = r.lease?.leaseTtlMs ?? 0;
          if (t < 0) seen.negativeTtl++;
          if (t < 0 && t > -1000) seen.subSecondNegative++;
          if ((r.lease?.generation ?? 0) > 2 ** 32) seen.beyond32Bits++;
        }
      }),
      { numRuns: 1500 },
    );
    for (const [what, n] of Object.entries(seen)) expect(n, what).toBeGreaterThan(0);
  });

  it("writes toJsonString's text at each field's limits", () => {
    const limits: Lease[] = [
      { pool: "", token: "", owner: "", generation: 0, expireTime: 0, idleExpireTime: 0, leaseTtlMs: 0, requestId: undefined },
      { pool: "p", token: "t", owner: "所有者🔑", generation: MAX, expireTime: T_MAX, idleExpireTime: T_MIN, leaseTtlMs: -1, requestId: undefined },
      { pool: "p", token: "t", owner: "o\ud800", generation: 1, expireTime: -1, idleExpireTime: undefined, leaseTtlMs: -315_576_000_000_999, requestId: undefined },
      { pool: "p", token: "t", owner: "o", generation: 2 ** 32, expireTime: 1_765_000_000_123, idleExpireTime: -999, leaseTtlMs: 1500, requestId: undefined },
    ];
    const rs: KeepAliveResult[] = [
      ...limits.map((l, i) => ({ token: l.token, status: i % 2 === 0 ? ("ok" as const) : ("not_found" as const), lease: l, idleExpireTime: l.idleExpireTime })),
      { token: "", status: "not_found", lease: undefined, idleExpireTime: undefined },
    ];
    for (const r of rs) expect(keepAliveResponseJson([r])).toBe(toJsonString(KeepAliveResponseSchema, reference([r])));
    expect(keepAliveResponseJson(rs)).toBe(toJsonString(KeepAliveResponseSchema, reference(rs)));
    expect(keepAliveResponseJson([])).toBe("{}");
  });

  it("refuses what toJsonString refuses, with its message", () => {
    const at = (expireTime: number, leaseTtlMs = 1000): KeepAliveResult[] => [
      { token: "t", status: "ok", idleExpireTime: undefined, lease: { pool: "p", token: "t", owner: "o", generation: 1, expireTime, idleExpireTime: undefined, leaseTtlMs, requestId: undefined } },
    ];
    for (const rs of [at(T_MAX + 1), at(T_MIN - 1), at(0, 315_576_000_001_000), at(0, -315_576_000_001_000)]) {
      expect(() => toJsonString(KeepAliveResponseSchema, reference(rs))).toThrow();
      expect(outcome(() => keepAliveResponseJson(rs))).toEqual(outcome(() => toJsonString(KeepAliveResponseSchema, reference(rs))));
    }
  });
});
