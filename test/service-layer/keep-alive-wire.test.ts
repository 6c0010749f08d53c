// The hand-written KeepAliveResponse encoder (service/keep-alive-wire.ts) must give exactly the bytes
// protobuf-es's toBinary gives for the messages the service built before it (messages.ts), for any
// store records: random ones, and the edges of each field (empty, unicode and lone surrogates, bodies
// past one length byte, zero and negative durations, the safe-integer limits, absent lease and times).

import { equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KeepAliveResponseSchema, type KeepAliveResponse } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import type { KeepAliveResult, Lease } from "../../src/core/types.js";
import { keepAliveResponseBinary } from "../../src/service/keep-alive-wire.js";
import { keepAliveResultMessage } from "../../src/service/messages.js";
import { key, stringFieldMaxBytes, WireWriter } from "../../src/service/wire-writer.js";

const MAX = Number.MAX_SAFE_INTEGER;
const MIN = Number.MIN_SAFE_INTEGER;

/** What the grpc-js engine sent for these records before the encoder, and Connect still sends. */
function reference(results: readonly KeepAliveResult[]): KeepAliveResponse {
  return { $typeName: "tokenpool.v1.KeepAliveResponse", results: results.map(keepAliveResultMessage) };
}

/** A lone surrogate is not UTF-8: it is written (by TextEncoder too) and so read back as U+FFFD. */
const wellFormed = (s: string): string => s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
const wellFormedResult = (r: KeepAliveResult): KeepAliveResult => ({
  ...r,
  token: wellFormed(r.token),
  lease: r.lease && { ...r.lease, pool: wellFormed(r.lease.pool), token: wellFormed(r.lease.token), owner: wellFormed(r.lease.owner) },
});

const surrogateHalf = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const char = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }) },
  { weight: 3, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: surrogateHalf },
);
const text = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: char, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom("", "é", "所有者", "🔑owner", "\ud800", "a\udfffb", "x".repeat(127), "x".repeat(128), "é".repeat(64), "€".repeat(43)) },
  { weight: 1, arbitrary: fc.string({ unit: char, minLength: 100, maxLength: 300 }) },
);
const edges = [0, 1, 127, 128, 16_383, 16_384, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 35, MAX];
const natural = fc.oneof(fc.constantFrom(...edges), fc.nat(), fc.maxSafeNat());
const signed = fc.oneof(fc.constantFrom(...edges, ...edges.map((e) => -e), -999, 999, -1000, 1000, -1500), fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.maxSafeInteger());
const lease: fc.Arbitrary<Lease> = fc.record({
  pool: text,
  token: text,
  owner: text,
  generation: natural,
  expireTime: signed,
  idleExpireTime: fc.option(signed, { nil: undefined }),
  leaseTtlMs: signed,
  requestId: fc.option(text, { nil: undefined }),
});
const result: fc.Arbitrary<KeepAliveResult> = fc.record({
  token: text,
  status: fc.constantFrom("ok" as const, "not_found" as const),
  lease: fc.option(lease, { nil: undefined }),
  idleExpireTime: fc.option(signed, { nil: undefined }),
});
const results = fc.oneof({ weight: 4, arbitrary: fc.array(result, { maxLength: 8 }) }, { weight: 1, arbitrary: fc.array(result, { minLength: 100, maxLength: 150 }) });

describe("KeepAliveResponse wire encoder", () => {
  it("writes toBinary's bytes for random records, and they decode back to the same message", () => {
    // What the runs covered: each must be reached, or the property proved nothing there.
    const seen = { empty: 0, missingLease: 0, notFound: 0, nonAscii: 0, longBody: 0, negative: 0, zeroTtl: 0, beyond32Bits: 0 };
    fc.assert(
      fc.property(results, (rs) => {
        const expected = reference(rs);
        const ours = keepAliveResponseBinary(rs);
        expect(Buffer.from(ours).toString("hex")).toBe(Buffer.from(toBinary(KeepAliveResponseSchema, expected)).toString("hex"));
        // A writer of one byte grows to exactly what the first result reserves: its bound is held tight.
        expect(keepAliveResponseBinary(rs, new WireWriter(1)).toString("hex")).toBe(ours.toString("hex"));
        expect(equals(KeepAliveResponseSchema, fromBinary(KeepAliveResponseSchema, ours), reference(rs.map(wellFormedResult)))).toBe(true);
        if (rs.length === 0) seen.empty++;
        for (const r of rs) {
          if (!r.lease) seen.missingLease++;
          if (r.status === "not_found") seen.notFound++;
          const strings = [r.token, r.lease?.owner ?? "", r.lease?.pool ?? ""];
          if (strings.some((s) => /[^\x00-\x7f]/.test(s))) seen.nonAscii++;
          if (Buffer.byteLength(r.token) + Buffer.byteLength(r.lease?.owner ?? "") > 128) seen.longBody++;
          if ((r.lease?.expireTime ?? 0) < 0 || (r.lease?.leaseTtlMs ?? 0) < 0) seen.negative++;
          if (r.lease?.leaseTtlMs === 0) seen.zeroTtl++;
          if ((r.lease?.generation ?? 0) > 2 ** 32) seen.beyond32Bits++;
        }
      }),
      { numRuns: 1000 },
    );
    for (const [what, n] of Object.entries(seen)) expect(n, what).toBeGreaterThan(0);
  });

  it("writes toBinary's bytes at each field's limits", () => {
    const limits: Lease[] = [
      { pool: "", token: "", owner: "", generation: 0, expireTime: 0, idleExpireTime: 0, leaseTtlMs: 0, requestId: undefined },
      { pool: "p", token: "t", owner: "所有者🔑", generation: MAX, expireTime: MAX, idleExpireTime: MIN, leaseTtlMs: MIN, requestId: undefined },
      { pool: "p", token: "t", owner: "o", generation: 1, expireTime: MIN, idleExpireTime: undefined, leaseTtlMs: MAX, requestId: undefined },
      { pool: "p", token: "t", owner: "o", generation: 2 ** 32, expireTime: -1, idleExpireTime: -999, leaseTtlMs: -1, requestId: undefined },
    ];
    const rs: KeepAliveResult[] = [
      ...limits.map((l, i) => ({ token: l.token, status: i % 2 === 0 ? ("ok" as const) : ("not_found" as const), lease: l, idleExpireTime: l.idleExpireTime })),
      { token: "", status: "not_found", lease: undefined, idleExpireTime: undefined },
    ];
    for (const r of rs) expect(Buffer.from(keepAliveResponseBinary([r]))).toEqual(Buffer.from(toBinary(KeepAliveResponseSchema, reference([r]))));
    expect(keepAliveResponseBinary([]).length).toBe(0);
  });

  it("grows past its scratch buffer and hands out copies, not the buffer it reuses", () => {
    const big: KeepAliveResult[] = Array.from({ length: 2000 }, (_, i) => ({
      token: `token-${i}`,
      status: "ok",
      lease: { pool: "pool", token: `token-${i}`, owner: "owner-é", generation: i + 1, expireTime: 1_765_000_000_000 + i, idleExpireTime: undefined, leaseTtlMs: 30_000, requestId: undefined },
      idleExpireTime: 1_765_000_600_000,
    }));
    const first = keepAliveResponseBinary(big);
    expect(first.length).toBeGreaterThan(16 * 1024);
    const copy = Buffer.from(first);
    const second = keepAliveResponseBinary(big.slice(0, 3).reverse());
    const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
    expect(hex(first)).toBe(hex(copy));
    expect(hex(first)).toBe(hex(toBinary(KeepAliveResponseSchema, reference(big))));
    expect(hex(second)).toBe(hex(toBinary(KeepAliveResponseSchema, reference(big.slice(0, 3).reverse()))));
  });
});

describe("wire writer primitives", () => {
  const ours = (write: (w: WireWriter) => void): string => {
    const w = new WireWriter(4);
    w.reserve(200_000);
    write(w);
    return w.finish().toString("hex");
  };
  const theirs = (write: (w: BinaryWriter) => void): string => {
    const w = new BinaryWriter();
    write(w);
    return Buffer.from(w.finish()).toString("hex");
  };

  it("varints and int64s as protobuf-es writes uint64 and int64, over the safe-integer range", () => {
    const safe = fc.oneof(fc.constantFrom(...edges, ...edges.map((e) => -e), MIN), fc.maxSafeInteger(), fc.integer());
    fc.assert(
      fc.property(safe, (n) => {
        expect(ours((w) => w.int64(n))).toBe(theirs((w) => w.int64(n)));
        if (n >= 0) expect(ours((w) => w.varint(n))).toBe(theirs((w) => w.uint64(n)));
        if (n >= -(2 ** 31) && n < 2 ** 31) expect(ours((w) => w.int64(n))).toBe(theirs((w) => w.int32(n)));
      }),
      { numRuns: 2000 },
    );
  });

  it("Timestamp and Duration bodies as protobuf-es writes them, zeros left out", () => {
    const seconds = fc.oneof(fc.constantFrom(0, -1, 1, MAX, MIN, 2 ** 32), fc.maxSafeInteger());
    const nanos = fc.oneof(fc.constantFrom(0, -1, 999_999_999, -999_999_999), fc.integer({ min: -999_999_999, max: 999_999_999 }));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 15 }), seconds, nanos, (field, sec, ns) => {
        expect(ours((w) => w.secondsNanosField(key(field, 2), sec, ns))).toBe(
          theirs((w) => {
            w.tag(field, 2).fork();
            if (sec !== 0) w.tag(1, 0).int64(sec);
            if (ns !== 0) w.tag(2, 0).int32(ns);
            w.join();
          }),
        );
      }),
      { numRuns: 1000 },
    );
  });

  it("throws rather than answer a message written past what was reserved", () => {
    const ascii = new WireWriter(1);
    ascii.reserve(4);
    ascii.stringField(key(1, 2), "abcd");
    expect(() => ascii.finish()).toThrow(/wrote 6 bytes into 4 reserved/);
    const utf8 = new WireWriter(1);
    utf8.reserve(8);
    // Buffer's encoder itself refuses a string longer than the room left.
    expect(() => utf8.stringField(key(1, 2), "ééé€")).toThrow(RangeError);
    const exact = new WireWriter(1);
    exact.reserve(stringFieldMaxBytes("ééé€"));
    exact.stringField(key(1, 2), "ééé€");
    expect(exact.finish().toString("hex")).toBe(Buffer.from(new BinaryWriter().tag(1, 2).string("ééé€").finish()).toString("hex"));
  });

  it("strings, and length-delimited bodies whose length needs more than one byte", () => {
    fc.assert(
      fc.property(text, fc.nat({ max: 40_000 }), (s, padding) => {
        expect(ours((w) => w.string(s))).toBe(theirs((w) => w.string(s)));
        const body = "b".repeat(padding);
        const nested = ours((w) => {
          const at = w.openField(key(1, 2));
          w.stringField(key(2, 2), s);
          w.stringField(key(3, 2), body);
          w.join(at);
          w.varintField(key(4, 0), padding);
        });
        expect(nested).toBe(theirs((w) => w.tag(1, 2).fork().tag(2, 2).string(s).tag(3, 2).string(body).join().tag(4, 0).uint32(padding)));
      }),
      { numRuns: 300 },
    );
  });
});
