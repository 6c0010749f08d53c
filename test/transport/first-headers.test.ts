// The first-HEADERS reader the one-port split decides by: whatever way the opening bytes are cut
// into reads, it decides only once the whole first header block (and the ACK of the listener's
// SETTINGS) is in, finds the content-type, and replays every byte but that one ACK.

import hpack from "hpack.js";
import { describe, expect, it } from "vitest";
import { isGrpcProto, scanFirstHeaders } from "../../src/transport/http/first-headers.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

function block(contentType: string): Buffer {
  const c = hpack.compressor.create({ table: { size: 4096 } });
  c.write([
    { name: ":method", value: "POST" },
    { name: ":path", value: "/tokenpool.v1.TokenService/GetPool" },
    { name: "content-type", value: contentType },
    { name: "user-agent", value: "x".repeat(300) },
  ]);
  return c.read();
}

describe("scanFirstHeaders", () => {
  const headerBlock = block("application/grpc+proto");
  const split = 7;
  // HEADERS with padding and priority, its block split over a CONTINUATION; the ACK comes after it.
  const padded = Buffer.concat([Buffer.from([3]), Buffer.alloc(5), headerBlock.subarray(0, split), Buffer.alloc(3)]);
  const settings = frame(0x4, 0, 0, Buffer.from([0, 3, 0, 0, 0, 100]));
  const windowUpdate = frame(0x8, 0, 0, Buffer.from([0, 1, 0, 0]));
  const headers = frame(0x1, 0x8 | 0x20, 1, padded);
  const continuation = frame(0x9, 0x4, 1, headerBlock.subarray(split));
  const ack = frame(0x4, 0x1, 0, Buffer.alloc(0));
  const data = frame(0x0, 0x1, 1, Buffer.alloc(5));
  const wire = Buffer.concat([PREFACE, settings, windowUpdate, headers, continuation, ack, data]);
  const withoutAck = Buffer.concat([PREFACE, settings, windowUpdate, headers, continuation, data]);
  const decidedAt = wire.length - data.length;

  it("decides at the first byte that completes both the header block and the ACK, whatever the cut", () => {
    for (let n = PREFACE.length; n <= wire.length; n++) {
      const scan = scanFirstHeaders(wire.subarray(0, n), PREFACE.length, true);
      expect(scan.done, `after ${n} bytes`).toBe(n >= decidedAt);
      if (!scan.done) continue;
      expect(scan.headers?.get("content-type")).toBe("application/grpc+proto");
      expect(scan.headers?.get(":path")).toBe("/tokenpool.v1.TokenService/GetPool");
      expect(scan.replay.equals(withoutAck.subarray(0, n - ack.length))).toBe(true);
    }
  });

  it("waits for the ACK when the listener sent SETTINGS, and not otherwise", () => {
    expect(scanFirstHeaders(withoutAck, PREFACE.length, true).done).toBe(false);
    const scan = scanFirstHeaders(withoutAck, PREFACE.length, false);
    expect(scan.done).toBe(true);
    expect(scan.replay.equals(withoutAck)).toBe(true);
  });

  it("reports an undecodable block as no headers (the connection then goes to connect-node)", () => {
    const garbage = Buffer.concat([PREFACE, ack, frame(0x1, 0x4, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]))]);
    const scan = scanFirstHeaders(garbage, PREFACE.length, true);
    expect(scan.done).toBe(true);
    expect(scan.headers?.get("content-type")).toBeUndefined();
  });

  it("takes native gRPC with the proto codec, not gRPC-Web, other codecs or Connect", () => {
    for (const ct of ["application/grpc", "application/grpc+proto", "application/GRPC+Proto", "application/grpc;charset=utf-8", "application/grpc+proto; x=1"]) expect(isGrpcProto(ct), ct).toBe(true);
    for (const ct of ["application/grpc+json", "application/grpc-web", "application/grpc-web+proto", "application/grpc-web-text", "application/json", "application/connect+proto", "application/grpcx", undefined]) {
      expect(isGrpcProto(ct), String(ct)).toBe(false);
    }
  });
});
