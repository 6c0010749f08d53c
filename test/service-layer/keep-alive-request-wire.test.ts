// The KeepAliveRequest decoder (service/keep-alive-request-wire.ts) must give what protobuf-es's
// fromBinary gives, message for message and error for error, for any bytes: well-formed requests
// (ASCII, non-ASCII, long ids, repeated pool fields, unknown fields) and damaged ones.

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KeepAliveRequestSchema } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { keepAliveRequestFromBinary } from "../../src/service/keep-alive-request-wire.js";

type Outcome = { ok: true; value: unknown } | { ok: false; message: string };
const outcome = (decode: () => unknown): Outcome => {
  try {
    return { ok: true, value: decode() };
  } catch (e) {
    return { ok: false, message: e instanceof Error ? e.message : String(e) };
  }
};
const sameAsProtobufEs = (bytes: Uint8Array): void => {
  expect(outcome(() => keepAliveRequestFromBinary(bytes))).toEqual(outcome(() => fromBinary(KeepAliveRequestSchema, bytes)));
};

const id = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: "grapheme-ascii", maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 13, maxLength: 200 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
  { weight: 1, arbitrary: fc.constantFrom("", "\u007f", "\u0080", "é", "所有者", "\ud800", "x".repeat(127), "x".repeat(128)) },
);

/** A request as fields in any order: pools, tokens and now and then an unknown field. */
const field = fc.oneof(
  { weight: 1, arbitrary: id.map((s) => ({ no: 1, s })) },
  { weight: 6, arbitrary: id.map((s) => ({ no: 2, s })) },
  { weight: 1, arbitrary: fc.record({ no: fc.integer({ min: 3, max: 40 }), s: id }) },
);
const encode = (fields: readonly { no: number; s: string }[]): Uint8Array => {
  const w = new BinaryWriter();
  for (const f of fields) w.tag(f.no, WireType.LengthDelimited).string(f.s);
  return w.finish();
};

describe("KeepAliveRequest decoder", () => {
  it("decodes the bench's request as protobuf-es does", () => {
    const tokens = Array.from({ length: 100 }, (_, i) => `ka-${String(i).padStart(3, "0")}`);
    const bytes = toBinary(KeepAliveRequestSchema, create(KeepAliveRequestSchema, { pool: "ka", tokens }));
    expect(keepAliveRequestFromBinary(bytes)).toEqual(create(KeepAliveRequestSchema, { pool: "ka", tokens }));
    expect(keepAliveRequestFromBinary(new Uint8Array(0))).toEqual(create(KeepAliveRequestSchema));
  });

  it("equals fromBinary on random well-formed requests, unknown fields and non-ASCII text included", () => {
    fc.assert(fc.property(fc.array(field, { maxLength: 30 }), (fields) => sameAsProtobufEs(encode(fields))), { numRuns: 2000 });
  });

  it("equals fromBinary (or its error) on damaged bytes: cut short, flipped, or random", () => {
    const damaged = fc.oneof(
      fc.tuple(fc.array(field, { minLength: 1, maxLength: 8 }), fc.nat()).map(([f, n]) => {
        const b = encode(f);
        return b.subarray(0, n % b.length);
      }),
      fc.tuple(fc.array(field, { minLength: 1, maxLength: 8 }), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([f, n, v]) => {
        const b = encode(f).slice();
        b[n % b.length] = v;
        return b;
      }),
      fc.uint8Array({ maxLength: 40 }),
      fc.constantFrom(Uint8Array.of(0x12, 0x80, 0x80, 0x80, 0x80, 0x01), Uint8Array.of(0x12, 0xff, 0xff, 0xff, 0xff, 0x0f), Uint8Array.of(0x12, 0x05, 0x61)),
    );
    fc.assert(fc.property(damaged, sameAsProtobufEs), { numRuns: 3000 });
  });

  it("reads a Buffer over a larger pool as well as a plain Uint8Array", () => {
    const bytes = encode([{ no: 1, s: "p" }, { no: 2, s: "t-1" }]);
    const big = Buffer.alloc(64, 0x41);
    bytes.forEach((b, i) => (big[10 + i] = b));
    expect(keepAliveRequestFromBinary(big.subarray(10, 10 + bytes.length))).toEqual(create(KeepAliveRequestSchema, { pool: "p", tokens: ["t-1"] }));
  });
});
