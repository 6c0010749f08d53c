// Protocol fuzzing against a live tokenpool child process: a few thousand generated hostile requests
// (test/hardening/fuzz.ts) must each get a well-formed answer, the process must survive without a
// stack trace or warning in its output, and the pools must still be consistent afterwards.
// FUZZ_INPUTS and FUZZ_SEED override the size and the seed (the seed is printed to replay a failure).

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, startServer, type ServerProcess } from "../harness/server-process.js";
import { envelope } from "../harness/envelope.js";
import { runFuzz, summarize, type FuzzReport } from "./fuzz.js";
import { createSender } from "./raw-sender.js";

const PASSWORD = "fuzz-test-password-8e1d";
const INPUTS = Number(process.env.FUZZ_INPUTS ?? 3000);
/** A small body limit keeps the oversized inputs cheap; the code path is the same at 4 MiB. */
const MAX_REQUEST_BYTES = 64 * 1024;

let server: ServerProcess;
let report: FuzzReport;

beforeAll(async () => {
  server = await startServer([
    "--store", "memory",
    "--api-password", PASSWORD,
    "--total-tokens", "4",
    "--event-ring", "1000000",
    // The invariant checker's all-pools recorder must see every event, and one fuzzed call can emit
    // far more than any default buffer at once (a pool created with 10^5 tokens, then deleted): it is
    // an instrument here, not a subject (test/service/slow-watcher.test.ts covers the cut).
    "--watch-buffer", "1000000",
    "--max-request-bytes", String(MAX_REQUEST_BYTES),
    "--log-level", "info",
    "--shutdown-grace", "2",
  ]);
  report = await runFuzz({
    baseUrl: server.url,
    password: PASSWORD,
    inputs: INPUTS,
    concurrency: 16,
    limits: { maxRequestBytes: MAX_REQUEST_BYTES },
    ...(process.env.FUZZ_SEED !== undefined && { seed: Number(process.env.FUZZ_SEED) }),
  });
  mkdirSync(join(ROOT, "test-results"), { recursive: true });
  writeFileSync(join(ROOT, "test-results", "fuzz-report.json"), JSON.stringify(report, null, 2));
  console.log(summarize(report));
}, 180_000);

afterAll(async () => {
  if (server && server.child.exitCode === null) await server.stop();
});

/** The server's structured log lines (stderr is pino JSON, one object per line). */
function logLines(): { level: number; msg?: string; err?: { stack?: string } }[] {
  return server
    .stderr()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { level: number; msg?: string; err?: { stack?: string } });
}

describe(`protocol fuzzing (${INPUTS} inputs)`, () => {
  it("answers every input with a well-formed response and the right code", () => {
    const shown = report.violations
      .slice(0, 10)
      .map((v) => `[${v.family}] ${v.outcome}: ${v.problem}\n  ${v.note}\n  ${v.request}`)
      .join("\n");
    expect(report.violationCount, `seed ${report.seed}\n${shown}`).toBe(0);
    expect(report.inputs).toBe(INPUTS);
    // Our own HTTP/2 client refuses almost nothing; most inputs must really reach the server.
    expect(report.sent).toBeGreaterThan(INPUTS * 0.99);
  });

  it("reached every generator family and every class of answer", () => {
    for (const family of ["regression", "valid-proto", "mutated-proto", "random-proto", "json", "envelope", "compression", "content-type", "timeout", "oversize", "connect-get", "http-routes", "raw-h1", "truncated", "unknown-method"]) {
      expect(report.byFamily[family] ?? 0, family).toBeGreaterThan(0);
    }
    const seen = Object.keys(report.byOutcome);
    for (const outcome of ["grpc:ok", "connect:ok", "grpc-web:ok", "grpc:invalid_argument", "connect:invalid_argument", "grpc:unimplemented", "grpc:unauthenticated", "connect:unauthenticated", "legacy:200", "legacy:401", "http:415", "http:404"]) {
      expect(seen, outcome).toContain(outcome);
    }
    expect(seen.some((o) => o.endsWith(":resource_exhausted")), "resource_exhausted").toBe(true);
    expect(seen.some((o) => o.endsWith(":not_found")), "not_found").toBe(true);
  });

  it("keeps the pools consistent: counts, waiters, and the event stream replayed against GetToken", () => {
    const inv = report.invariants;
    expect(inv, "invariants were checked").toBeDefined();
    expect(inv!.problems).toEqual([]);
    // The checks had something to check: pools were created, events recorded, tokens compared.
    expect(inv!.pools).toBeGreaterThan(1);
    expect(inv!.eventsReplayed).toBeGreaterThan(0);
    expect(inv!.tokensChecked).toBeGreaterThan(0);
    expect(inv!.completeHistories).toBeGreaterThan(0);
  });

  it("survives with no stack trace, error line or warning in its output, and never logs the password", async () => {
    expect(server.child.exitCode, "server process still running").toBeNull();
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    // Besides the JSON log, stderr would carry crashes, connect-node's console.error and Node warnings
    // (TimeoutOverflowWarning); stdout has nothing to say at all (the password is set).
    expect(server.stderr().split("\n").filter((l) => l.trim() !== "" && !l.startsWith("{"))).toEqual([]);
    expect(server.stdout()).toBe("");
    const lines = logLines();
    expect(lines.length).toBeGreaterThan(0);
    const bad = lines.filter((l) => l.level >= 50 || l.err?.stack !== undefined);
    expect(bad.map((l) => JSON.stringify(l).slice(0, 300))).toEqual([]);
    // The fuzzer sent wrong passwords too (the right one plus a suffix): neither may appear.
    expect(server.stderr()).not.toContain(PASSWORD);
    // …but the rejected ones were logged, as credential form and peer only.
    expect(lines.some((l) => l.msg === "authentication failed")).toBe(true);
  });

  // Found by the fuzzer: the body's unread rest wedged the connection, and the next request hung.
  it("does not wedge a keep-alive connection with a half-read oversized body", async () => {
    const sender = createSender(server.url);
    try {
      for (const ct of ["application/grpc-web+proto", "application/grpc", "application/connect+proto"]) {
        const path = ct.startsWith("application/connect") ? "/tokenpool.v1.TokenService/WatchLeases" : "/tokenpool.v1.TokenService/KeepAlive";
        const big = await sender.send(
          { transport: "h1", method: "POST", path, headers: [["content-type", ct], ["x-api-password", PASSWORD]], body: envelope(0, Buffer.alloc(MAX_REQUEST_BYTES * 5, 0x0a)) },
          5000,
        );
        expect(big.kind, ct).toBe("response");
        const next = await sender.send({ transport: "h1", method: "GET", path: "/healthz", headers: [], body: new Uint8Array(0) }, 5000);
        expect(next.kind === "response" && next.status, `${ct}: the request after it`).toBe(200);
      }
    } finally {
      sender.close();
    }
  });

  it("shuts down cleanly afterwards", async () => {
    expect(await server.stop()).toBe(0);
  });
});
