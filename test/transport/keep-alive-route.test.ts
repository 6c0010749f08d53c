// keep-alive-route.ts on a real connect-node adapter and socket: KeepAlive's Connect answer is written
// from the records the implementation returned, and protobuf-es writes it when an interceptor replaced
// the message. A stub service stands in for the store (only keepAliveResults is called).

import http from "node:http";
import type { AddressInfo } from "node:net";
import { create, fromBinary, toBinary, toJsonString } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { KeepAliveRequestSchema, KeepAliveResponseSchema, type KeepAliveResponse } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { ok, type KeepAliveResult } from "../../src/core/types.js";
import { keepAliveResponseMessage } from "../../src/service/messages.js";
import type { TokenServiceApi } from "../../src/service/token-service.js";
import { routes } from "../../src/transport/connect/routes.js";

const RECORDS: readonly KeepAliveResult[] = [
  {
    token: "t1",
    status: "ok",
    idleExpireTime: undefined,
    lease: { pool: "p", token: "t1", owner: "o", generation: 7, leaseTtlMs: 1500, expireTime: Date.UTC(2026, 0, 1, 0, 0, 1, 500), idleExpireTime: undefined, requestId: undefined },
  },
  { token: "gone", status: "not_found", idleExpireTime: Date.UTC(2026, 0, 1), lease: undefined },
];
const EXPECTED = keepAliveResponseMessage(RECORDS);
const EMPTY = create(KeepAliveResponseSchema, {});

const service = { keepAliveResults: async () => ok(RECORDS) } as unknown as TokenServiceApi;

/** An interceptor doing `edit` to KeepAlive's answer. */
const onAnswer =
  (edit: (res: KeepAliveResponse) => KeepAliveResponse | void): Interceptor =>
  (next) =>
  async (req) => {
    const res = await next(req);
    if (res.stream) return res;
    const replaced = edit(res.message as KeepAliveResponse);
    return replaced ? { ...res, message: replaced } : res;
  };

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function serve(interceptors: Interceptor[], encoders: boolean): Promise<string> {
  const options = { interceptors };
  const server = http.createServer(
    connectNodeAdapter({ ...options, routes: routes({ service, notReadyReason: () => undefined, keepAliveEncoders: encoders ? options : undefined }, []) }),
  );
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/tokenpool.v1.TokenService/KeepAlive`;
}

async function keepAlive(url: string, binary: boolean): Promise<{ status: number; body: Buffer }> {
  const request = create(KeepAliveRequestSchema, { pool: "p", tokens: ["t1", "gone"] });
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": binary ? "application/proto" : "application/json" },
    body: binary ? toBinary(KeepAliveRequestSchema, request) : JSON.stringify({ pool: "p", tokens: ["t1", "gone"] }),
  });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

describe("KeepAlive's Connect handler", () => {
  it("writes the records the implementation returned, as protobuf-es would write their message", async () => {
    const url = await serve([], true);
    expect((await keepAlive(url, false)).body.toString("utf8")).toBe(toJsonString(KeepAliveResponseSchema, EXPECTED));
    expect((await keepAlive(url, true)).body).toEqual(Buffer.from(toBinary(KeepAliveResponseSchema, EXPECTED)));
  });

  it("writes the records, not the message (an interceptor's in-place edit is not seen, as keep-alive-answer.ts says)", async () => {
    const clear = onAnswer((m) => void (m.results = []));
    const fast = await serve([clear], true);
    expect(fromBinary(KeepAliveResponseSchema, (await keepAlive(fast, true)).body)).toEqual(EXPECTED);
    // connect-node's own handler writes the message it was handed.
    const plain = await serve([clear], false);
    expect((await keepAlive(plain, false)).body.toString("utf8")).toBe("{}");
  });

  it("falls back to protobuf-es for a message an interceptor put in its place", async () => {
    const url = await serve([onAnswer(() => EMPTY)], true);
    const json = await keepAlive(url, false);
    expect([json.status, json.body.toString("utf8")]).toEqual([200, "{}"]);
    const binary = await keepAlive(url, true);
    expect([binary.status, binary.body.length]).toEqual([200, 0]);
  });
});
