// Mutations of protobuf bytes (flips, inserts, truncations, huge lengths) and of JSON request text.

import fc from "fast-check";
import type { DescMessage, JsonValue } from "@bufbuild/protobuf";
import type { FuzzLimits } from "./common.js";
import { encodeJsonValue, messageInit } from "./values.js";

interface ByteMutation {
  readonly op: "flip" | "insert" | "delete" | "truncate" | "set" | "append-field" | "huge-length" | "duplicate";
  readonly at: number;
  readonly data: Uint8Array;
}

export const byteMutation: fc.Arbitrary<ByteMutation> = fc.record({
  op: fc.constantFrom("flip", "insert", "delete", "truncate", "set", "append-field", "huge-length", "duplicate"),
  at: fc.nat({ max: 1 << 16 }),
  data: fc.uint8Array({ minLength: 1, maxLength: 8 }),
});

export function mutateBytes(input: Uint8Array, mutations: readonly ByteMutation[]): Uint8Array {
  let b = Buffer.from(input);
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % (b.length + 1);
    const first = m.data[0] as number;
    switch (m.op) {
      case "flip":
        if (b.length > 0) b[at % b.length] = (b[at % b.length] as number) ^ (1 << (first % 8));
        break;
      case "insert":
        b = Buffer.concat([b.subarray(0, at), m.data, b.subarray(at)]);
        break;
      case "delete":
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + (first % 4))]);
        break;
      case "truncate":
        b = b.subarray(0, at);
        break;
      case "set":
        if (b.length > 0) b[at % b.length] = [0x00, 0xff, 0x80, 0x7f, 0x0a, 0x12, first][first % 7] as number;
        break;
      case "append-field": {
        // A random tag (field 1..31, any wire type 0..7) followed by random payload bytes.
        const tag = ((1 + (first % 31)) << 3) | ((m.data[1] ?? 0) % 8);
        b = Buffer.concat([b, Buffer.from([tag]), m.data.subarray(1)]);
        break;
      }
      case "huge-length":
        // A length-delimited field claiming ~4 GiB.
        b = Buffer.concat([b.subarray(0, at), Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), b.subarray(at)]);
        break;
      case "duplicate":
        b = Buffer.concat([b, b]); // protobuf merges repeated encodings: usually still valid
        break;
    }
  }
  return b;
}

const jsonEdgeValues: JsonValue[] = [null, true, false, 0, -1, 1.5, 1e308, -1e308, "", "x", [], {}, [1, 2], { a: 1 }, "18446744073709551616", "-1", "1e3", "NaN", "Infinity", "0x10", " 5 ", "1.5s", "-1s", "1e3s", "999999999999s", "s", "1m", "\ud800"];

/** JSON text of a request: canonical, mutated in structure or values, or not JSON at all. */
export function jsonBody(desc: DescMessage, limits: FuzzLimits): fc.Arbitrary<{ text: Buffer; note: string }> {
  const fieldNames = [...desc.fields.flatMap((f) => [f.jsonName, f.name]), "x"];
  const canonical = messageInit(desc, limits).map((init) => encodeJsonValue(desc, init));
  const asText = (v: unknown): Buffer => Buffer.from(JSON.stringify(v) ?? "null", "utf8");
  const withField = fc
    .tuple(canonical, fc.constantFrom(...fieldNames, "bogus", "$typeName", "__proto__", "constructor"), fc.oneof(fc.constantFrom(...jsonEdgeValues), fc.jsonValue({ maxDepth: 3 })))
    .map(([base, key, value]) => {
      const obj: Record<string, JsonValue> = base !== null && typeof base === "object" && !Array.isArray(base) ? { ...base } : {};
      // defineProperty so "__proto__" becomes a real own key in the JSON text.
      Object.defineProperty(obj, key, { value, enumerable: true, configurable: true, writable: true });
      return { text: asText(obj), note: `field ${key} = ${JSON.stringify(value)?.slice(0, 60)}` };
    });
  const hugeNumber = fc.tuple(fc.constantFrom(...fieldNames), fc.constantFrom("1e400", "-1e400", "18446744073709551616", "340282366920938463463374607431768211456", "-0", "1.0", "1e-400", "00012", "0.0000001e7"))
    .map(([key, num]) => ({ text: Buffer.from(`{"${key}":${num}}`), note: `${key} = ${num}` }));
  const deep = fc.tuple(fc.constantFrom(16, 1000, 50_000), fc.constantFrom("[", "{\"a\":"), fc.constantFrom(...fieldNames, "x")).map(([depth, open, key]) => {
    const close = open === "[" ? "]" : "}";
    return { text: Buffer.from(`{"${key}":${open.repeat(depth)}1${close.repeat(depth)}}`), note: `nesting ${depth} under ${key}` };
  });
  const invalidUtf8 = fc.tuple(canonical, fc.uint8Array({ minLength: 1, maxLength: 4 })).map(([base, junk]) => {
    const text = asText(base);
    // Raw continuation bytes (never valid UTF-8 on their own) inside the first string, else just inside the object.
    const quote = text.indexOf(0x22, 1);
    const pos = quote > 0 ? quote + 1 : Math.min(1, text.length);
    const bad = Buffer.from(junk.map((x) => 0x80 | (x & 0x3f)));
    return { text: Buffer.concat([text.subarray(0, pos), bad, text.subarray(pos)]), note: `invalid UTF-8 at byte ${pos}` };
  });
  const notJson = fc.oneof(
    fc.constantFrom("", " ", "{", "}", "{]", "[]", "null", "\"str\"", "42", "{\"a\":1,}", "{/*c*/}", "\ufeff{}", "{} {}", "{\"pool\":\"a\",\"pool\":\"b\"}", "{\"pool\":\"\\ud800\"}", "{\"pool\":\"\\u0000\"}")
      .map((t) => ({ text: Buffer.from(t, "utf8"), note: `text ${JSON.stringify(t)}` })),
    fc.string({ unit: "binary", maxLength: 40 }).map((t) => ({ text: Buffer.from(t, "utf8"), note: "random text" })),
    fc.jsonValue({ maxDepth: 4 }).map((v) => ({ text: asText(v), note: "random JSON value" })),
  );
  return fc.oneof(
    { arbitrary: canonical.map((v) => ({ text: asText(v), note: "canonical" })), weight: 4 },
    { arbitrary: withField, weight: 4 },
    { arbitrary: hugeNumber, weight: 2 },
    { arbitrary: deep, weight: 1 },
    { arbitrary: invalidUtf8, weight: 2 },
    { arbitrary: notJson, weight: 3 },
  );
}
