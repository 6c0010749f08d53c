// Strings and numbers that probe limits and encodings, and protobuf messages built from them: an
// init object for any request type (from its descriptor), encoded as binary or canonical JSON.

import fc from "fast-check";
import { create, ScalarType, toBinary, toJson, type DescField, type DescMessage, type JsonValue } from "@bufbuild/protobuf";
import { isWrapperDesc } from "@bufbuild/protobuf/wkt";
import { FUZZ_POOLS, type FuzzLimits, OWNERS, POOLS, REFLECTION_NAMES, TOKENS } from "./common.js";

function weirdString(limits: FuzzLimits): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: fc.string({ unit: "binary", maxLength: 24 }), weight: 6 },
    { arbitrary: fc.string({ unit: "grapheme-ascii", maxLength: 24 }), weight: 4 },
    { arbitrary: fc.constantFrom("", " ", "\u0000", "../../etc/passwd", "%00", "\ud800", "\u202e", "a\nb", "😀", "default "), weight: 3 },
    { arbitrary: fc.constantFrom("x".repeat(limits.maxStringLength), "y".repeat(limits.maxStringLength + 1), "z".repeat(5000)), weight: 1 },
  );
}

function vocab(values: readonly string[], limits: FuzzLimits): fc.Arbitrary<string> {
  return fc.oneof({ arbitrary: fc.constantFrom(...values), weight: 8 }, { arbitrary: weirdString(limits), weight: 2 });
}

const U32_EDGES = [0, 1, 2, 3, 5, 8, 1000, 1001, 100_001, 10_000_001, 0x7fffffff, 0xffffffff];
const U64_EDGES = [0n, 1n, 2n, 3n, 10n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n];

function uint32For(name: string): fc.Arbitrary<number> {
  switch (name) {
    case "count":
    case "initialTokens":
      // Mostly small so pools stay small; the edges sit past any configured limit.
      return fc.oneof({ arbitrary: fc.integer({ min: 0, max: 8 }), weight: 9 }, { arbitrary: fc.constantFrom(100_001, 10_000_001, 0xffffffff), weight: 1 });
    default:
      return fc.oneof({ arbitrary: fc.constantFrom(...U32_EDGES), weight: 3 }, { arbitrary: fc.nat({ max: 0xffffffff }), weight: 1 });
  }
}

/** Durations as init objects, or undefined (unset). Long waits stay rare: they occupy a server call. */
function durationFor(name: string): fc.Arbitrary<{ seconds: bigint; nanos: number } | undefined> {
  const d = (seconds: bigint, nanos = 0) => ({ seconds, nanos });
  const invalid = [d(-1n), d(0n, -1), d(0n, 1_000_000_000), d(2n ** 62n), d(315_576_000_001n), d(-(2n ** 63n))];
  const valid: Record<string, { seconds: bigint; nanos: number }[]> = {
    waitTimeout: [d(0n), d(0n, 50_000_000), d(0n, 200_000_000)],
    leaseTtl: [d(0n, 1_000_000), d(0n, 200_000_000), d(1n), d(30n), d(60n), d(3600n)],
    idleTtl: [d(0n), d(0n, 300_000_000), d(1n), d(300n)],
    heartbeatInterval: [d(0n, 500_000_000), d(1n), d(15n), d(3601n)],
  };
  const choices = valid[name] ?? [d(0n), d(1n)];
  return fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 4 },
    { arbitrary: fc.constantFrom(...choices), weight: 4 },
    { arbitrary: fc.constantFrom(...invalid), weight: 1 },
  );
}

function stringFor(message: DescMessage, field: DescField, limits: FuzzLimits): fc.Arbitrary<string> {
  const name = field.localName;
  if (message.typeName === "tokenpool.v1.DeletePoolRequest") {
    // Deleting `default` would turn every later legacy call into a 503: keep it out of reach.
    return vocab(FUZZ_POOLS, limits);
  }
  if (name === "name" || name === "pool") return vocab(POOLS, limits);
  if (name === "token" || name === "tokens") return vocab(TOKENS, limits);
  if (name === "owner") return vocab(OWNERS, limits);
  if (name === "requestId") return vocab(["", "r1", "r2"], limits);
  if (name === "service") return vocab(["", "tokenpool.v1.TokenService", "nope"], limits);
  if (message.typeName.startsWith("grpc.reflection.")) return vocab(REFLECTION_NAMES, limits);
  return weirdString(limits);
}

type Init = Record<string, unknown>;

function scalarFor(message: DescMessage, field: DescField, scalar: ScalarType, limits: FuzzLimits): fc.Arbitrary<unknown> {
  switch (scalar) {
    case ScalarType.STRING:
      return stringFor(message, field, limits);
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return uint32For(field.localName);
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return fc.oneof(fc.constantFrom(0, 1, -1, 0x7fffffff, -0x80000000), fc.integer());
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return fc.oneof({ arbitrary: fc.constantFrom(...U64_EDGES), weight: 3 }, { arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), weight: 1 });
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return fc.oneof(fc.constantFrom(0, 0.5, 0.8, 0.99, 1, -0.5, Number.NaN, Infinity, -Infinity, 5e-324, -0), fc.double());
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 32 });
  }
}

/** An init object for `desc`: plausible values, edges and junk, every field independently. */
export function messageInit(desc: DescMessage, limits: FuzzLimits, depth = 0): fc.Arbitrary<Init> {
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const member of desc.members) {
    if (member.kind === "oneof") {
      const cases = member.fields.map((f) => fieldValue(desc, f, limits, depth).map((value) => ({ case: f.localName, value })));
      parts[member.localName] = fc.oneof(fc.constant({ case: undefined }), ...cases);
      continue;
    }
    parts[member.localName] = fc.option(fieldValue(desc, member, limits, depth), { nil: undefined, freq: 4 });
  }
  return fc.record(parts).map((r) => {
    const out: Init = {};
    for (const [k, v] of Object.entries(r)) if (v !== undefined) out[k] = v;
    return out;
  });
}

function fieldValue(message: DescMessage, field: DescField, limits: FuzzLimits, depth: number): fc.Arbitrary<unknown> {
  switch (field.fieldKind) {
    case "scalar":
      return scalarFor(message, field, field.scalar, limits);
    case "enum":
      return enumValue(field.enum.values.map((v) => v.number));
    case "message":
      if (field.message.typeName === "google.protobuf.Duration") return durationFor(field.localName);
      // Wrapper fields (UpdatePool's max_leases_per_owner) are unboxed in protobuf-es: a plain scalar.
      if (isWrapperDesc(field.message)) return scalarFor(message, field, field.message.fields[0].scalar, limits);
      return depth > 3 ? fc.constant({}) : messageInit(field.message, limits, depth + 1);
    case "list": {
      const element =
        field.listKind === "scalar"
          ? scalarFor(message, field, field.scalar, limits)
          : field.listKind === "enum"
            ? enumValue(field.enum.values.map((v) => v.number))
            : depth > 3
              ? fc.constant({})
              : messageInit(field.message, limits, depth + 1);
      return fc.array(element, { maxLength: 6 });
    }
    case "map":
      return fc.constant({});
  }
}

function enumValue(known: readonly number[]): fc.Arbitrary<number> {
  return fc.oneof({ arbitrary: fc.constantFrom(...known), weight: 4 }, { arbitrary: fc.constantFrom(999, -1, 0x7fffffff), weight: 1 });
}

/** Binary encoding of a generated init; protobuf-es writes whatever it is given, edges included. */
export function encodeBinary(desc: DescMessage, init: Init): Uint8Array {
  return toBinary(desc, create(desc, init));
}

/** Canonical JSON of a generated init, or a hand-built stand-in when the values have no JSON form (NaN durations…). */
export function encodeJsonValue(desc: DescMessage, init: Init): JsonValue {
  try {
    return toJson(desc, create(desc, init));
  } catch {
    return { note: "no canonical JSON for this message" };
  }
}
