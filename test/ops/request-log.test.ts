// The request-log interceptor on an in-memory Connect router: a server fault is logged once at error
// level with the caller's request id, which also comes back in the error; other outcomes log only
// at debug, and nothing at info.

import { Writable } from "node:stream";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/es/grpc/health/v1/health_pb.js";
import { requestLogInterceptor } from "../../src/ops/request-log.js";

function capture(level: string) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split("\n")) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level }, sink), lines };
}

function healthClient(level: string) {
  const { log, lines } = capture(level);
  const transport = createRouterTransport(
    (router) =>
      router.service(Health, {
        async check(req) {
          if (req.service === "boom") throw new Error("disk on fire");
          if (req.service === "missing") throw new ConnectError("no such service", Code.NotFound);
          return { status: Status.SERVING };
        },
      }),
    { router: { interceptors: [requestLogInterceptor(log)] } },
  );
  return { client: createClient(Health, transport), lines };
}

const settle = () => new Promise((r) => setImmediate(r));

describe("request log", () => {
  it("logs a server fault at error level with the request id, and returns the id with the error", async () => {
    const { client, lines } = healthClient("info");
    const failure = await client.check({ service: "boom" }, { headers: { "x-request-id": "fault-1" } }).catch((e: unknown) => ConnectError.from(e));
    expect(failure).toBeInstanceOf(ConnectError);
    expect((failure as ConnectError).code).toBe(Code.Unknown); // what Connect makes of a plain Error
    expect((failure as ConnectError).metadata.get("x-request-id")).toBe("fault-1");
    await settle();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 50, msg: "rpc failed", requestId: "fault-1", method: "grpc.health.v1.Health/Check", code: "Unknown" });
    expect(JSON.stringify(lines[0])).toContain("disk on fire");
  });

  it("writes nothing at info for successes and caller errors; one debug line each at debug", async () => {
    const quiet = healthClient("info");
    await quiet.client.check({ service: "" });
    await quiet.client.check({ service: "missing" }).catch(() => undefined);
    await settle();
    expect(quiet.lines).toEqual([]);

    const chatty = healthClient("debug");
    let header: Headers | undefined;
    await chatty.client.check({ service: "" }, { headers: { "x-request-id": "ok-2" }, onHeader: (h) => (header = h) });
    await chatty.client.check({ service: "missing" }, { headers: { "x-request-id": "nf-3" } }).catch(() => undefined);
    await settle();
    expect(header?.get("x-request-id")).toBe("ok-2");
    expect(chatty.lines).toEqual([
      expect.objectContaining({ level: 20, msg: "rpc", requestId: "ok-2", code: "OK" }),
      expect.objectContaining({ level: 20, msg: "rpc", requestId: "nf-3", code: "NotFound" }),
    ]);
  });
});
