// The transport-neutral TokenService and the legacy operations called directly, as a second transport
// (grpc-js) calls them: request messages and a plain CallContext in, Result values out; no Connect on the path.

import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AssignTokenRequestSchema,
  CreatePoolRequestSchema,
  GetPoolRequestSchema,
  WatchLeasesRequestSchema,
  LeaseEventType,
} from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { defaultLimits } from "../../src/config/limits.js";
import { systemClock } from "../../src/runtime/clock.js";
import { PasswordCheck, type AuthFailure } from "../../src/service/auth.js";
import type { CallContext } from "../../src/service/call.js";
import { createLegacyService } from "../../src/service/legacy-service.js";
import { createStreamGate } from "../../src/service/stream-gate.js";
import { createTokenService, type TokenServiceApi } from "../../src/service/token-service.js";
import { LocalStore } from "../../src/store/local-store.js";

const PASSWORD = "layer-secret";

function callWith(headers: Record<string, string>, signal = new AbortController().signal): CallContext {
  return { signal, header: (n) => headers[n], peer: "127.0.0.1:1" };
}

describe("TokenService, called without a transport", () => {
  const store = new LocalStore({ kind: "memory", clock: systemClock, events: { ringSize: 100, subscriberBuffer: 2 } });
  const streams = createStreamGate(1);
  const failures: Omit<AuthFailure, "protocol">[] = [];
  let dropped = 0;
  let service: TokenServiceApi;
  const authed = callWith({ "x-api-password": PASSWORD });

  beforeAll(() => {
    service = createTokenService({
      store,
      limits: defaultLimits,
      streams,
      check: new PasswordCheck(PASSWORD),
      onAuthFailure: (f) => failures.push(f),
      onWatchDropped: () => dropped++,
    });
  });
  afterAll(async () => {
    await store.close();
  });

  it("answers with response messages", async () => {
    const created = await service.createPool(create(CreatePoolRequestSchema, { name: "layer", initialTokens: 2 }), authed);
    expect(created.ok && created.value.$typeName).toBe("tokenpool.v1.CreatePoolResponse");
    const assigned = await service.assignToken(create(AssignTokenRequestSchema, { pool: "layer", owner: "me" }), authed);
    if (!assigned.ok) throw new Error(assigned.error.code);
    expect(assigned.value).toMatchObject({ $typeName: "tokenpool.v1.AssignTokenResponse", available: 1, lease: { owner: "me", pool: "layer" } });
  });

  it("returns errors as values, with the field named", async () => {
    const r = await service.assignToken(create(AssignTokenRequestSchema, { pool: "layer", leaseTtl: { seconds: 0n, nanos: 500_000 } }), authed);
    expect(r).toEqual({ ok: false, error: { code: "INVALID_ARGUMENT", field: "lease_ttl", message: expect.stringContaining("1ms") } });
    const missing = await service.getPool(create(GetPoolRequestSchema, { name: "nope" }), authed);
    expect(missing).toEqual({ ok: false, error: { code: "POOL_NOT_FOUND", pool: "nope" } });
  });

  it("makes the auth decision, reporting the failure without the secret", async () => {
    const r = await service.getPool(create(GetPoolRequestSchema, { name: "layer" }), callWith({ authorization: "Bearer wrong-guess" }));
    expect(r).toEqual({ ok: false, error: { code: "UNAUTHENTICATED" } });
    expect(failures.at(-1)).toEqual({ route: "/tokenpool.v1.TokenService/GetPool", presented: "bearer", peer: "127.0.0.1:1" });
    expect(JSON.stringify(failures)).not.toContain("wrong-guess");
    const bearer = await service.getPool(create(GetPoolRequestSchema, { name: "layer" }), callWith({ authorization: `Bearer ${PASSWORD}` }));
    expect(bearer.ok).toBe(true);
  });

  it("takes a transport's word that it already checked the password (its early gate), and only then", async () => {
    const request = create(GetPoolRequestSchema, { name: "layer" });
    const checked = { ...callWith({}), authenticated: true };
    expect((await service.getPool(request, checked)).ok).toBe(true);
    const unchecked = { ...callWith({}), authenticated: false };
    expect(await service.getPool(request, unchecked)).toEqual({ ok: false, error: { code: "UNAUTHENTICATED" } });
  });

  it("stops a waiting assign when the call's signal aborts", async () => {
    const full = await service.createPool(create(CreatePoolRequestSchema, { name: "layer-empty" }), authed);
    expect(full.ok).toBe(true);
    const ac = new AbortController();
    const waiting = service.assignToken(create(AssignTokenRequestSchema, { pool: "layer-empty", waitTimeout: { seconds: 30n } }), callWith({ "x-api-password": PASSWORD }, ac.signal));
    setTimeout(() => ac.abort(), 20);
    expect(await waiting).toEqual({ ok: false, error: { code: "CANCELLED" } });
  });

  it("streams a watch as a pull-based iterable, holds the stream limit, and reports a slow consumer", async () => {
    const opened = await service.watchLeases(create(WatchLeasesRequestSchema, { pool: "layer" }), authed);
    if (!opened.ok) throw new Error(opened.error.code);
    const watch = opened.value;
    // The one stream slot is taken.
    expect(await service.watchLeases(create(WatchLeasesRequestSchema, { pool: "layer" }), authed)).toEqual({
      ok: false,
      error: { code: "TOO_MANY_STREAMS", limit: defaultLimits.maxStreams },
    });
    const it = watch[Symbol.asyncIterator]();
    const first = it.next();
    await service.assignToken(create(AssignTokenRequestSchema, { pool: "layer", owner: "w" }), authed);
    const m = (await first).value;
    expect(m?.kind.case === "event" && m.kind.value.type).toBe(LeaseEventType.ASSIGNED);
    // Not pulling while events pile up past the buffer (2) cuts the watcher with a resume point.
    for (const token of ["t-a", "t-b", "t-c", "t-d"]) await store.generate("layer", { ids: [token] });
    for (;;) if ((await it.next()).done) break;
    expect(watch.endError).toMatchObject({ code: "SLOW_CONSUMER", pool: "layer" });
    watch.close();
    expect(dropped).toBe(1);
    // The slot is free again.
    const again = await service.watchLeases(create(WatchLeasesRequestSchema, { pool: "layer" }), authed);
    expect(again.ok).toBe(true);
    if (again.ok) again.value.close();
  });
});

describe("legacy operations, called without a transport", () => {
  const store = new LocalStore({ kind: "memory", clock: systemClock, events: { ringSize: 100, subscriberBuffer: 10 } });
  const failures: Omit<AuthFailure, "protocol">[] = [];
  const legacy = createLegacyService({ store, pool: "old", leaseTtlMs: 60_000, check: new PasswordCheck(PASSWORD), onAuthFailure: (f) => failures.push(f) });
  const authed = callWith({ "x-api-password": PASSWORD });

  afterAll(async () => {
    await store.close();
  });

  it("issues and recycles the oldest legacy lease, and knows only the old service's credential", async () => {
    expect((await store.createPool("old", {}, 2)).ok).toBe(true);
    expect(await legacy.issue(authed)).toEqual({ ok: true, value: { available: 1 } });
    // The old API had no bearer form: a right secret in the wrong header is refused, and reported.
    expect(await legacy.issue(callWith({ authorization: `Bearer ${PASSWORD}` }))).toEqual({ ok: false, error: { code: "UNAUTHENTICATED" } });
    expect(failures.at(-1)).toMatchObject({ route: "/issue_token", presented: "bearer" });
    expect(await legacy.issue(authed)).toEqual({ ok: true, value: { available: 0 } });
    expect(await legacy.issue(authed)).toMatchObject({ ok: false, error: { code: "POOL_EXHAUSTED" } });
    expect(await legacy.recycle(undefined, authed)).toEqual({ ok: true, value: { recycled: true, available: 1 } });
    // A token no legacy client holds is "nothing recycled", not an error.
    expect(await legacy.recycle("no-such-token", authed)).toEqual({ ok: true, value: { recycled: false, available: 1 } });
    expect(await legacy.available(authed)).toEqual({ ok: true, value: 1 });
  });
});
