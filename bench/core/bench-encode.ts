// In-process cost of answering a KeepAlive ×100 (`npm run bench:encode`, needs --expose-gc). Binary:
// the messages of messages.ts + toBinary (the path before the encoder), the same records through
// protobuf-es's BinaryWriter by hand, and service/keep-alive-wire.ts's direct writer. JSON: the messages
// + toJsonString + TextEncoder (what connect-es's JSON serialization does), and service/keep-alive-json.ts
// + the same UTF-8 encoding.

import { toBinary, toJsonString } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { KeepAliveResponseSchema, KeepAliveStatus } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import type { KeepAliveResult } from "../../src/core/types.js";
import { keepAliveResponseJson } from "../../src/service/keep-alive-json.js";
import { keepAliveResponseBinary } from "../../src/service/keep-alive-wire.js";
import { keepAliveResultMessage } from "../../src/service/messages.js";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
const ROUNDS = 12;
const CALLS = 4000;

/** The bench's KeepAlive pool (bench/load/bodies.ts): 100 held tokens of one owner, no idle TTL. */
const now = Date.now();
const records: KeepAliveResult[] = Array.from({ length: 100 }, (_, i) => {
  const token = `ka-${String(i).padStart(3, "0")}`;
  return {
    token,
    status: "ok",
    idleExpireTime: undefined,
    lease: { pool: "ka", token, owner: "bench", generation: 1000 + i, leaseTtlMs: 3_600_000, expireTime: now + 3_600_000 + i, idleExpireTime: undefined, requestId: undefined },
  };
});

function viaMessages(rs: readonly KeepAliveResult[]): Uint8Array {
  return toBinary(KeepAliveResponseSchema, { $typeName: "tokenpool.v1.KeepAliveResponse", results: rs.map(keepAliveResultMessage) });
}

/** The same bytes as keep-alive-wire.ts, through BinaryWriter (fork/join, TextEncoder per string). */
function viaBinaryWriter(rs: readonly KeepAliveResult[]): Uint8Array {
  const w = new BinaryWriter();
  const time = (field: number, ms: number): void => {
    const s = Math.floor(ms / 1000);
    const n = (ms - s * 1000) * 1_000_000;
    w.tag(field, WireType.LengthDelimited).fork();
    if (s !== 0) w.tag(1, WireType.Varint).int64(s);
    if (n !== 0) w.tag(2, WireType.Varint).int32(n);
    w.join();
  };
  for (const r of rs) {
    w.tag(1, WireType.LengthDelimited).fork();
    if (r.token !== "") w.tag(1, WireType.LengthDelimited).string(r.token);
    w.tag(2, WireType.Varint).int32(r.status === "ok" ? KeepAliveStatus.OK : KeepAliveStatus.NOT_FOUND);
    const l = r.lease;
    if (l) {
      w.tag(3, WireType.LengthDelimited).fork();
      if (l.pool !== "") w.tag(1, WireType.LengthDelimited).string(l.pool);
      if (l.token !== "") w.tag(2, WireType.LengthDelimited).string(l.token);
      if (l.owner !== "") w.tag(3, WireType.LengthDelimited).string(l.owner);
      if (l.generation !== 0) w.tag(4, WireType.Varint).uint64(l.generation);
      time(5, l.expireTime);
      if (l.idleExpireTime !== undefined) time(6, l.idleExpireTime);
      time(7, l.leaseTtlMs); // non-negative here, so a duration writes as a timestamp does
      w.join();
    }
    if (r.idleExpireTime !== undefined) time(4, r.idleExpireTime);
    w.join();
  }
  return w.finish();
}

const utf8 = new TextEncoder();
const viaToJson = (rs: readonly KeepAliveResult[]): Uint8Array =>
  utf8.encode(toJsonString(KeepAliveResponseSchema, { $typeName: "tokenpool.v1.KeepAliveResponse", results: rs.map(keepAliveResultMessage) }));
const viaJsonWriter = (rs: readonly KeepAliveResult[]): Uint8Array => utf8.encode(keepAliveResponseJson(rs));

const binaryEncoders: Record<string, (rs: readonly KeepAliveResult[]) => Uint8Array> = {
  "messages + toBinary": viaMessages,
  "BinaryWriter from records": viaBinaryWriter,
  "direct writer from records": keepAliveResponseBinary,
};
const jsonEncoders: Record<string, (rs: readonly KeepAliveResult[]) => Uint8Array> = {
  "messages + toJsonString": viaToJson,
  "JSON writer from records": viaJsonWriter,
};
const encoders = { ...binaryEncoders, ...jsonEncoders };

const reference = Buffer.from(viaMessages(records));
for (const [name, encode] of Object.entries(binaryEncoders))
  if (!reference.equals(Buffer.from(encode(records)))) throw new Error(`${name} does not write toBinary's bytes`);
const jsonReference = Buffer.from(viaToJson(records));
for (const [name, encode] of Object.entries(jsonEncoders))
  if (!jsonReference.equals(Buffer.from(encode(records)))) throw new Error(`${name} does not write toJsonString's text`);

/** µs per call, the GC of what the calls allocate included (each round starts from a collected heap). */
function measure(encode: (rs: readonly KeepAliveResult[]) => Uint8Array): number {
  gc!();
  const t0 = process.hrtime.bigint();
  let sink = 0;
  for (let i = 0; i < CALLS; i++) sink += encode(records).length;
  if (sink === 0) throw new Error("nothing encoded");
  return Number(process.hrtime.bigint() - t0) / 1000 / CALLS;
}

const best: Record<string, number> = {};
for (let round = 0; round < ROUNDS; round++)
  for (const [name, encode] of round % 2 === 0 ? Object.entries(encoders) : Object.entries(encoders).reverse()) {
    best[name] = Math.min(best[name] ?? Infinity, measure(encode));
  }
process.stdout.write(`KeepAlive ×100 response, ${reference.length} bytes binary, ${jsonReference.length} JSON; min of ${ROUNDS} rounds × ${CALLS} calls, alternating order\n`);
for (const [group, base] of [[binaryEncoders, "messages + toBinary"], [jsonEncoders, "messages + toJsonString"]] as const)
  for (const name of Object.keys(group)) {
    const us = best[name]!;
    process.stdout.write(`${name.padEnd(28)} ${us.toFixed(1).padStart(7)} µs/call  ${(best[base]! / us).toFixed(2)}× the messages path\n`);
  }
process.stdout.write(`${JSON.stringify({ bench: "encode-keepalive-100", bytes: reference.length, json_bytes: jsonReference.length, us_per_call: best })}\n`);
