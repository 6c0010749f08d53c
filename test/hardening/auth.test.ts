// Authentication, table-driven: every method of every tokenpool API service (read from the
// descriptors, so a new RPC is in the table the day it is added) × gRPC and Connect JSON × missing,
// wrong, wrong-case, wrong-length and wrong-scheme credentials, plus every legacy route (read from
// the route table). Each must be refused before any handler runs, counted in
// tokenpool_auth_failures_total, and logged without the secret that was presented. The comparison
// itself must take the same time wherever the presented secret differs.

import http2 from "node:http2";
import { fromBinary, fromJson, toBinary, type DescMethod, type JsonValue } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ErrorInfoSchema } from "../../gen/es/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/es/google/rpc/status_pb.js";
import { startServer, type ServerProcess } from "../harness/server-process.js";
import { END_STREAM, envelope, splitEnvelopes } from "../harness/envelope.js";
import { API_FILES, OPEN_FILES, servedMethods } from "./services.js";
import { AuthFailureLog, PasswordCheck } from "../../src/transport/auth.js";
import { PROTECTED_SERVICES } from "../../src/transport/connect/routes.js";
import type { LegacyServiceApi } from "../../src/service/legacy-service.js";
import { legacyRoutes } from "../../src/transport/legacy/legacy-routes.js";

/** Mixed case and digits, so the wrong-case and wrong-length variants really differ. */
const PASSWORD = "Auth-Table-Secret-7f3aQ";

/** Credentials that must all be refused. Each wrong secret is distinctive, to look for it in the log. */
const VARIANTS: readonly { readonly name: string; readonly headers: Record<string, string>; readonly secret?: string }[] = [
  { name: "missing", headers: {} },
  { name: "empty X-API-PASSWORD", headers: { "x-api-password": "" } },
  { name: "wrong, same length", headers: { "x-api-password": `${PASSWORD.slice(0, -1)}R` }, secret: `${PASSWORD.slice(0, -1)}R` },
  { name: "wrong case", headers: { "x-api-password": PASSWORD.toLowerCase() }, secret: PASSWORD.toLowerCase() },
  { name: "one character short", headers: { "x-api-password": PASSWORD.slice(0, -1) }, secret: PASSWORD.slice(0, -1) },
  { name: "one character long", headers: { "x-api-password": `${PASSWORD}9` }, secret: `${PASSWORD}9` },
  { name: "wrong bearer", headers: { authorization: "Bearer guess-Zq81xx" }, secret: "guess-Zq81xx" },
  { name: "right secret, Basic scheme", headers: { authorization: `Basic ${Buffer.from(`u:${PASSWORD}`).toString("base64")}` }, secret: Buffer.from(`u:${PASSWORD}`).toString("base64") },
  // The password header wins when both are sent (documented): a wrong one is not rescued by a right bearer.
  { name: "wrong X-API-PASSWORD with right bearer", headers: { "x-api-password": "guess-Kp44yy", authorization: `Bearer ${PASSWORD}` }, secret: "guess-Kp44yy" },
];

/** What a would-be caller sends: requests that would change state if a handler ran. */
const PROBES: Record<string, JsonValue> = {
  CreatePool: { name: "auth-probe", initialTokens: 1 },
  DeletePool: { name: "default" },
  GenerateTokens: { pool: "default", count: 1 },
  AssignToken: { pool: "default", owner: "auth-probe" },
  KeepAlive: { pool: "default", tokens: ["x"] },
  ReleaseToken: { pool: "default", token: "x" },
  DeleteToken: { pool: "default", token: "x" },
  GetPool: { name: "default" },
  GetToken: { pool: "default", token: "x" },
  WatchLeases: { pool: "default" },
};

const API_METHODS = servedMethods().filter((m) => m.authenticated);

let server: ServerProcess;

beforeAll(async () => {
  server = await startServer(["--store", "memory", "--api-password", PASSWORD, "--total-tokens", "2", "--log-level", "info", "--shutdown-grace", "1"]);
});

afterAll(async () => {
  if (server && server.child.exitCode === null) await server.stop();
});

interface Outcome {
  readonly code: string;
  readonly reason: string | undefined;
}

/** A unary or server-streaming call over gRPC (h2c), read to its status. */
async function grpcCall(method: DescMethod, json: JsonValue, headers: Record<string, string>): Promise<Outcome> {
  const session = http2.connect(server.url);
  try {
    const bytes = toBinary(method.input, fromJson(method.input, json));
    const stream = session.request({
      ":method": "POST",
      ":path": `/${method.parent.typeName}/${method.name}`,
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-timeout": "2S",
      ...headers,
    });
    let status: Record<string, string> = {};
    const take = (h: http2.IncomingHttpHeaders): void => {
      if (h["grpc-status"] !== undefined) status = Object.fromEntries(Object.entries(h).map(([k, v]) => [k, String(v)]));
    };
    stream.on("response", take);
    stream.on("trailers", take);
    stream.resume();
    stream.end(envelope(0, bytes));
    await new Promise<void>((resolve, reject) => {
      stream.on("close", resolve);
      stream.on("error", reject);
    });
    const codes = ["ok", "canceled", "unknown", "invalid_argument", "deadline_exceeded", "not_found", "already_exists", "permission_denied", "resource_exhausted", "failed_precondition", "aborted", "out_of_range", "unimplemented", "internal", "unavailable", "data_loss", "unauthenticated"];
    let reason: string | undefined;
    const bin = status["grpc-status-details-bin"];
    if (bin) {
      for (const d of fromBinary(StatusSchema, Buffer.from(bin, "base64")).details) {
        if (d.typeUrl.endsWith("/google.rpc.ErrorInfo")) reason = fromBinary(ErrorInfoSchema, d.value).reason;
      }
    }
    return { code: codes[Number(status["grpc-status"])] ?? `grpc-status ${status["grpc-status"]}`, reason };
  } finally {
    session.close();
  }
}

/** The same call as Connect JSON over HTTP/1.1 (fetch), enveloped for the streaming method. */
async function connectJsonCall(method: DescMethod, json: JsonValue, headers: Record<string, string>): Promise<Outcome & { readonly httpStatus: number }> {
  const streaming = method.methodKind !== "unary";
  const text = Buffer.from(JSON.stringify(json));
  const res = await fetch(`${server.url}/${method.parent.typeName}/${method.name}`, {
    method: "POST",
    headers: { "content-type": streaming ? "application/connect+json" : "application/json", "connect-timeout-ms": "2000", ...headers },
    body: streaming ? envelope(0, text) : text,
  });
  const raw = Buffer.from(await res.arrayBuffer());
  let error: { code?: string; details?: { type: string; value: string }[] } | undefined;
  if (streaming && res.status === 200) {
    // The end-of-stream frame is the last one; messages before it would mean the call went through.
    const { frames } = splitEnvelopes(raw);
    const last = frames.at(-1)?.data;
    const messages = frames.filter((f) => (f.flags & END_STREAM) === 0).length;
    const end = last ? (JSON.parse(last.toString("utf8")) as { error?: typeof error }) : {};
    error = messages > 0 ? { code: "ok" } : (end.error ?? { code: "ok" });
  } else {
    error = res.status === 200 ? { code: "ok" } : (JSON.parse(raw.toString("utf8")) as typeof error);
  }
  const info = error?.details?.find((d) => d.type === "google.rpc.ErrorInfo");
  const reason = info ? fromBinary(ErrorInfoSchema, Buffer.from(info.value, "base64")).reason : undefined;
  return { code: error?.code ?? "?", reason, httpStatus: res.status };
}

async function authFailures(): Promise<Record<string, number>> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^tokenpool_auth_failures_total\{protocol="(\w+)"\} (\d+)/gm)) out[m[1] as string] = Number(m[2]);
  return out;
}

async function defaultPool(): Promise<{ total: number; available: number; sequence: string }> {
  const res = await fetch(`${server.url}/tokenpool.v1.TokenService/GetPool`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-password": PASSWORD },
    body: JSON.stringify({ name: "default" }),
  });
  const pool = ((await res.json()) as { pool: { total?: number; available?: number; sequence?: string } }).pool;
  return { total: pool.total ?? 0, available: pool.available ?? 0, sequence: pool.sequence ?? "0" };
}

describe("authentication on every RPC and legacy route", () => {
  it("protects every service of the API files; only health and reflection are open", () => {
    for (const file of API_FILES) for (const s of file.services) expect(PROTECTED_SERVICES.has(s.typeName), s.typeName).toBe(true);
    for (const file of OPEN_FILES) for (const s of file.services) expect(PROTECTED_SERVICES.has(s.typeName), s.typeName).toBe(false);
    // The table below is not empty by accident.
    expect(API_METHODS.map((m) => m.method.name)).toEqual(expect.arrayContaining(["CreatePool", "AssignToken", "WatchLeases"]));
  });

  it("refuses every RPC over gRPC and Connect JSON for every wrong credential, before any handler runs", async () => {
    const before = await authFailures();
    const poolBefore = await defaultPool();
    let refused = 0;
    const failures: string[] = [];
    for (const { method } of API_METHODS) {
      const probe = PROBES[method.name] ?? {};
      for (const v of VARIANTS) {
        const g = await grpcCall(method, probe, v.headers);
        if (g.code !== "unauthenticated" || g.reason !== "UNAUTHENTICATED") failures.push(`grpc ${method.name} ${v.name}: ${g.code}/${g.reason}`);
        const c = await connectJsonCall(method, probe, v.headers);
        if (c.code !== "unauthenticated" || c.reason !== "UNAUTHENTICATED" || (method.methodKind === "unary" && c.httpStatus !== 401)) {
          failures.push(`connect ${method.name} ${v.name}: ${c.code}/${c.reason} HTTP ${c.httpStatus}`);
        }
        refused += 2;
      }
    }
    expect(failures).toEqual([]);
    // Nothing happened: the default pool is untouched (same sequence: no event at all) and no pool was created.
    expect(await defaultPool()).toEqual(poolBefore);
    const list = await connectJsonCall(API_METHODS.find((m) => m.method.name === "ListPools")!.method, {}, { "x-api-password": PASSWORD });
    expect(list.code).toBe("ok");
    // Every refusal was counted, under its protocol.
    const after = await authFailures();
    expect((after.rpc ?? 0) - (before.rpc ?? 0)).toBe(refused);
  });

  it("accepts the right password in either header on every RPC (the table's control)", async () => {
    const failures: string[] = [];
    for (const { method } of API_METHODS) {
      // An empty request: never unauthenticated, and harmless whatever the method does with it.
      const forms: Record<string, string>[] = [{ "x-api-password": PASSWORD }, { authorization: `Bearer ${PASSWORD}` }, { authorization: `bearer ${PASSWORD}` }];
      for (const headers of forms) {
        const g = await grpcCall(method, {}, headers);
        const c = await connectJsonCall(method, {}, headers);
        if (g.code === "unauthenticated" || c.code === "unauthenticated") failures.push(`${method.name} ${Object.keys(headers)[0]}: ${g.code} / ${c.code}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it("refuses every legacy route, with Flask's exact 401 body, and counts it", async () => {
    // The routes as the server builds them (the store is never reached by a refused call).
    const paths = legacyRoutes({ service: {} as LegacyServiceApi }).map((r) => r.path);
    expect(paths).toEqual(expect.arrayContaining(["/issue_token", "/recycle_token", "/tokens"]));
    const before = await authFailures();
    const poolBefore = await defaultPool();
    // The legacy API never accepted a bearer token: a right one is refused there too.
    const variants = [...VARIANTS, { name: "right bearer only", headers: { authorization: `Bearer ${PASSWORD}` } }];
    const failures: string[] = [];
    for (const path of paths) {
      for (const v of variants) {
        const res = await fetch(`${server.url}${path}?info=auth-probe`, { headers: v.headers });
        const body = await res.text();
        if (res.status !== 401 || body !== '{"error":"Unauthorized"}\n') failures.push(`${path} ${v.name}: ${res.status} ${body}`);
      }
    }
    expect(failures).toEqual([]);
    expect(await defaultPool()).toEqual(poolBefore);
    const after = await authFailures();
    expect((after.legacy ?? 0) - (before.legacy ?? 0)).toBe(paths.length * variants.length);
    // Control: the right password works on the same routes.
    expect((await fetch(`${server.url}/tokens`, { headers: { "x-api-password": PASSWORD } })).status).toBe(200);
  });

  it("logs refusals with protocol, route, credential form and peer, never the secret presented", () => {
    const log = server.stderr();
    for (const v of VARIANTS) if (v.secret) expect(log, v.name).not.toContain(v.secret);
    expect(log).not.toContain(PASSWORD);
    const lines = log
      .split("\n")
      .filter((l) => l.includes('"auth"'))
      .map((l) => JSON.parse(l) as { level: number; msg: string; auth: Record<string, unknown> });
    // The first refusal of the burst in full (a warning), the rest folded into a periodic summary.
    const first = lines.find((l) => l.msg === "authentication failed");
    expect(first?.level).toBe(40);
    expect(first?.auth).toMatchObject({ protocol: "rpc", presented: expect.stringMatching(/^(none|x-api-password|bearer|other-authorization)$/), peer: "127.0.0.1" });
    expect(String(first?.auth.route)).toMatch(/^\/tokenpool\.v1\.TokenService\//);
  });
});

describe("AuthFailureLog", () => {
  it("counts every failure, logs the first of a burst in full and the rest as one summary per interval", () => {
    vi.useFakeTimers();
    try {
      const warn = vi.fn<(fields: object | string, message?: string) => void>();
      const counted: string[] = [];
      const failures = new AuthFailureLog({ warn }, (p) => counted.push(p), 1000);
      const f = { protocol: "rpc" as const, route: "/tokenpool.v1.TokenService/GetPool", presented: "x-api-password" as const, peer: "10.0.0.1" };
      failures.record(f);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]?.[1]).toBe("authentication failed");
      for (let i = 0; i < 5; i++) failures.record({ ...f, protocol: i % 2 ? "legacy" : "rpc", peer: `10.0.0.${i}` });
      expect(warn).toHaveBeenCalledTimes(1); // folded, not one line each
      vi.advanceTimersByTime(1000);
      expect(warn).toHaveBeenCalledTimes(2);
      expect(warn.mock.calls[1]?.[0]).toEqual({ auth: { failures: 5, byProtocol: { rpc: 3, legacy: 2 }, peers: ["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"], windowMs: 1000 } });
      // A quiet interval ends the burst: the next failure is logged in full again.
      vi.advanceTimersByTime(5000);
      expect(warn).toHaveBeenCalledTimes(2);
      failures.record(f);
      expect(warn).toHaveBeenCalledTimes(3);
      expect(warn.mock.calls[2]?.[1]).toBe("authentication failed");
      expect(counted).toHaveLength(7);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("PasswordCheck", () => {
  /** Median time of `fn` over interleaved rounds, in ms. */
  function medians(fns: readonly (() => unknown)[], rounds = 31): number[] {
    const times: number[][] = fns.map(() => []);
    for (let r = 0; r < rounds; r++) {
      fns.forEach((fn, i) => {
        const t = performance.now();
        fn();
        times[i]!.push(performance.now() - t);
      });
    }
    return times.map((t) => t.sort((a, b) => a - b)[Math.floor(t.length / 2)]!);
  }

  it("takes as long for a secret wrong in its first character as for one wrong in its last", () => {
    // A long secret makes an early-exit comparison measurable: it would return at once on the first.
    const secret = "s".repeat(4 * 1024 * 1024);
    const check = new PasswordCheck(secret);
    const wrongFirst = `x${secret.slice(1)}`;
    const wrongLast = `${secret.slice(0, -1)}x`;
    expect(check.matches(secret)).toBe(true);
    expect(check.matches(wrongFirst)).toBe(false);
    const [first, last] = medians([() => check.matches(wrongFirst), () => check.matches(wrongLast)]);
    expect(last! / first!).toBeGreaterThan(0.5);
    expect(last! / first!).toBeLessThan(2);
    // The same measurement does tell an early-exit comparison apart (so the check above can fail).
    const early = medians([() => earlyExit(secret, wrongFirst), () => earlyExit(secret, wrongLast)]);
    expect(early[1]! / early[0]!).toBeGreaterThan(5);
  });

  it("refuses wrong lengths and empty secrets without throwing", () => {
    const check = new PasswordCheck(PASSWORD);
    for (const wrong of ["", "a", PASSWORD.slice(0, -1), `${PASSWORD}x`, PASSWORD.toUpperCase(), "x".repeat(10_000)]) expect(check.matches(wrong)).toBe(false);
    expect(check.matches(undefined)).toBe(false);
    expect(check.matches(PASSWORD)).toBe(true);
  });
});

/** The comparison the check must not be: stops at the first differing character. */
function earlyExit(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a.charCodeAt(i) !== b.charCodeAt(i)) return false;
  return true;
}
