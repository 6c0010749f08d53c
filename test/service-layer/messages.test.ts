// The response messages the service writes as literals (service/messages.ts) must be exactly what
// protobuf-es's create() would build from the same fields: same bytes, same canonical JSON, equal.
// Random core values, including unset optional times and zero counters.

import { create, equals, toBinary, toJsonString, type DescMessage, type Message } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GetTokenResponseSchema, KeepAliveResultSchema, LeaseEventSchema, PoolSchema, TokenSchema } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import type { KeepAliveResult, Lease, LeaseEvent, PoolStats, TokenInfo } from "../../src/core/types.js";
import { duration, eventMessage, keepAliveResultMessage, listedTokenMessage, poolMessage, timestamp, tokenMessage } from "../../src/service/messages.js";

/** The same value as a plain init (no $typeName anywhere), so create() takes its generic path. */
function asInit(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(asInit);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (k !== "$typeName") out[k] = asInit(v);
  return out;
}

function expectSameAsCreate<D extends DescMessage>(schema: D, literal: Message): void {
  const built = create(schema, asInit(literal) as never);
  expect(equals(schema, built, literal as never)).toBe(true);
  expect(Buffer.from(toBinary(schema, literal as never))).toEqual(Buffer.from(toBinary(schema, built)));
  expect(toJsonString(schema, literal as never)).toBe(toJsonString(schema, built));
}

const ms = fc.integer({ min: 0, max: 4_102_444_800_000 }); // to 2100
const maybeMs = fc.option(ms, { nil: undefined });
const name = fc.string({ minLength: 0, maxLength: 8 });
const count = fc.nat({ max: 1_000_000 });
const lease: fc.Arbitrary<Lease> = fc.record({
  pool: name,
  token: name,
  owner: name,
  generation: count,
  expireTime: ms,
  idleExpireTime: maybeMs,
  leaseTtlMs: fc.integer({ min: 1, max: 30 * 24 * 3600 * 1000 }),
  requestId: fc.constant(undefined),
}) as fc.Arbitrary<Lease>;

describe("literal response messages", () => {
  it("timestamps and durations match protobuf-es's own helpers", () => {
    fc.assert(
      fc.property(ms, fc.integer({ min: -1e12, max: 1e12 }), (t, d) => {
        expect(timestamp(t)).toEqual(timestampFromMs(t));
        expect(duration(d)).toEqual(durationFromMs(d));
      }),
    );
  });

  it("pools", () => {
    const pool = fc.record({
      name,
      config: fc.record({ leaseTtlMs: fc.nat({ max: 1e9 }), idleTtlMs: fc.nat({ max: 1e9 }), maxTokens: count, maxLeasesPerOwner: count }),
      total: count,
      available: count,
      held: count,
      waiters: count,
      cordoned: count,
      generation: count,
      sequence: count,
    }) as fc.Arbitrary<PoolStats>;
    fc.assert(fc.property(pool, (p) => expectSameAsCreate(PoolSchema, poolMessage(p))));
  });

  it("keep-alive results and token states, with and without a lease", () => {
    const result = fc.record({ token: name, status: fc.constantFrom("ok", "not_found"), lease: fc.option(lease, { nil: undefined }), idleExpireTime: maybeMs }) as fc.Arbitrary<KeepAliveResult>;
    fc.assert(fc.property(result, (r) => expectSameAsCreate(KeepAliveResultSchema, keepAliveResultMessage(r))));
    const info = fc.record({ pool: name, token: name, state: fc.constantFrom("held", "free"), idleExpireTime: maybeMs, lease: fc.option(lease, { nil: undefined }), cordoned: fc.boolean() }) as fc.Arbitrary<TokenInfo>;
    fc.assert(fc.property(info, (t) => expectSameAsCreate(GetTokenResponseSchema, tokenMessage(t))));
    fc.assert(fc.property(info, (t) => expectSameAsCreate(TokenSchema, listedTokenMessage(t))));
  });

  it("lease events", () => {
    const event = fc.record({
      sequence: count,
      type: fc.constantFrom("GENERATED", "ASSIGNED", "RENEWED", "RELEASED", "LEASE_EXPIRED", "IDLE_EXPIRED", "DELETED", "WAITER_TIMED_OUT", "TOKEN_CORDONED", "TOKEN_UNCORDONED"),
      pool: name,
      token: name,
      owner: name,
      generation: count,
      time: ms,
      expireTime: maybeMs,
      idleExpireTime: maybeMs,
    }) as fc.Arbitrary<LeaseEvent>;
    fc.assert(fc.property(event, (e) => expectSameAsCreate(LeaseEventSchema, eventMessage(e))));
  });
});
