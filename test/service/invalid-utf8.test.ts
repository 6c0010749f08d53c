// Invalid UTF-8 in request strings is refused, never stored as U+FFFD (issue 19, defect 5), over
// every store: Connect JSON answers INVALID_ARGUMENT; binary protobuf (Connect proto, gRPC) is already
// refused by protobuf-es's string decoding and reported like any undecodable message. A genuine U+FFFD
// sent as valid UTF-8 is still a legal character.

import http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AssignTokenRequestSchema } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { STORES, startTestServer, type TestServer } from "../harness/server.js";

const ASSIGN = "/tokenpool.v1.TokenService/AssignToken";
/** "a", then bytes that are no UTF-8 sequence (a lone continuation byte, an invalid lead byte). */
const BAD_OWNER = Buffer.from([0x61, 0x80, 0xff, 0x62]);

/** A JSON AssignToken body whose owner string holds raw invalid UTF-8. */
function jsonBody(pool: string, owner: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`{"pool":"${pool}","owner":"`), owner, Buffer.from(`"}`)]);
}

/** A binary AssignToken message whose owner field holds the given raw bytes. */
function binaryBody(pool: string, owner: Buffer): Buffer {
  const placeholder = "#".repeat(owner.length);
  const bytes = Buffer.from(toBinary(AssignTokenRequestSchema, create(AssignTokenRequestSchema, { pool, owner: placeholder })));
  const at = bytes.indexOf(placeholder);
  owner.copy(bytes, at);
  return bytes;
}

for (const store of STORES) {
  describe(`invalid UTF-8 × ${store} store`, () => {
    let s: TestServer;
    let pool: string;
    const rpc = async (method: string, body: unknown) => {
      const res = await fetch(`${s.url}/tokenpool.v1.TokenService/${method}`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-password": s.password },
        body: JSON.stringify(body),
      });
      return (await res.json()) as Record<string, unknown>;
    };
    const held = async (): Promise<number> => Number(((await rpc("GetPool", { name: pool })).pool as Record<string, unknown>).held ?? 0);

    beforeAll(async () => {
      s = await startTestServer(store);
      pool = `utf8-${store}`;
      await rpc("CreatePool", { name: pool, initialTokens: 4 });
    });
    afterAll(async () => {
      await s.close();
    });

    it("Connect JSON: INVALID_ARGUMENT, nothing assigned", async () => {
      const before = await held();
      const res = await fetch(`${s.url}${ASSIGN}`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-password": s.password },
        body: jsonBody(pool, BAD_OWNER),
      });
      const body = (await res.json()) as { code: string; message: string };
      expect({ status: res.status, code: body.code }).toEqual({ status: 400, code: "invalid_argument" });
      expect(body.message).toMatch(/UTF-8/);
      expect(await held()).toBe(before);
    });

    it("Connect JSON streaming (WatchLeases envelope): INVALID_ARGUMENT", async () => {
      const frame = Buffer.concat([Buffer.from(`{"pool":"${pool}","owner":"`), BAD_OWNER, Buffer.from(`"}`)]);
      const envelope = Buffer.alloc(5 + frame.length);
      envelope.writeUInt32BE(frame.length, 1);
      frame.copy(envelope, 5);
      const res = await fetch(`${s.url}/tokenpool.v1.TokenService/WatchLeases`, {
        method: "POST",
        headers: { "content-type": "application/connect+json", "x-api-password": s.password },
        body: envelope,
        // Were the watch opened, it would stay open: give up well before the test's own timeout.
        signal: AbortSignal.timeout(5000),
      });
      const text = Buffer.from(await res.arrayBuffer());
      // The end-of-stream frame carries the error.
      expect(text[0]).toBe(0x02);
      const end = JSON.parse(text.subarray(5, 5 + text.readUInt32BE(1)).toString("utf8")) as { error: { code: string; message: string } };
      expect(end.error.code).toBe("invalid_argument");
      expect(end.error.message).toMatch(/UTF-8/);
    });

    it("Connect binary: refused as an undecodable message, nothing assigned", async () => {
      const before = await held();
      const res = await fetch(`${s.url}${ASSIGN}`, {
        method: "POST",
        headers: { "content-type": "application/proto", "x-api-password": s.password },
        body: binaryBody(pool, BAD_OWNER),
      });
      const body = (await res.json()) as { code: string; message: string };
      expect(res.ok).toBe(false);
      expect(body.message).toMatch(/utf-8/i);
      expect(await held()).toBe(before);
    });

    it("gRPC: refused as an undecodable message, nothing assigned", async () => {
      const before = await held();
      const session = http2.connect(s.url);
      try {
        const message = binaryBody(pool, BAD_OWNER);
        const frame = Buffer.alloc(5 + message.length);
        frame.writeUInt32BE(message.length, 1);
        message.copy(frame, 5);
        const trailers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
          const req = session.request({ ":method": "POST", ":path": ASSIGN, "content-type": "application/grpc", te: "trailers", "x-api-password": s.password });
          let headers: http2.IncomingHttpHeaders = {};
          req.on("response", (h) => (headers = h));
          req.on("trailers", resolve);
          req.on("data", () => undefined);
          // A trailers-only answer puts grpc-status in the headers.
          req.on("end", () => resolve(headers));
          req.on("error", reject);
          req.end(frame);
        });
        expect(trailers["grpc-status"]).toBeDefined();
        expect(trailers["grpc-status"]).not.toBe("0");
        expect(decodeURIComponent(String(trailers["grpc-message"]))).toMatch(/utf-8/i);
      } finally {
        session.close();
      }
      expect(await held()).toBe(before);
    });

    it("a real U+FFFD, sent as valid UTF-8, is still accepted as is", async () => {
      const before = await held();
      const res = await fetch(`${s.url}${ASSIGN}`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-password": s.password },
        body: jsonBody(pool, Buffer.from("a\ufffdb", "utf8")),
      });
      const body = (await res.json()) as { lease: { owner: string; token: string } };
      expect(res.status).toBe(200);
      expect(body.lease.owner).toBe("a\ufffdb");
      expect(await held()).toBe(before + 1);
      await rpc("ReleaseToken", { pool, token: body.lease.token });
    });
  });
}
