// KeepAliveResponse in protobuf binary, written straight from the store's KeepAliveResult records: the
// bytes toBinary(KeepAliveResponseSchema, …) gives for the messages of messages.ts, without building them.
//
// Why: a KeepAlive of 100 tokens answered through messages and toBinary spent a third of its server CPU
// in protobuf-es and a sixth in GC of ~700 objects per call (docs/BENCHMARKS.md). Field numbers and the
// proto3 rules (a zero scalar or empty string is not written, a set message is, even empty) follow
// proto/tokenpool/v1/token_service.proto; test/service-layer/keep-alive-wire.test.ts holds the bytes
// equal to toBinary's.

import { KeepAliveStatus } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import type { KeepAliveResult, Lease } from "../core/types.js";
import { LENGTH_DELIMITED, VARINT, WireWriter } from "./wire-writer.js";

/** Field numbers of tokenpool.v1 and google.protobuf, by message. */
const RESPONSE_RESULTS = 1;
const RESULT_TOKEN = 1;
const RESULT_STATUS = 2;
const RESULT_LEASE = 3;
const RESULT_IDLE_EXPIRE_TIME = 4;
const LEASE_POOL = 1;
const LEASE_TOKEN = 2;
const LEASE_OWNER = 3;
const LEASE_GENERATION = 4;
const LEASE_EXPIRE_TIME = 5;
const LEASE_IDLE_EXPIRE_TIME = 6;
const LEASE_TTL = 7;
/** google.protobuf.Timestamp and Duration share them. */
const SECONDS = 1;
const NANOS = 2;

// One scratch buffer for the process: encoding is synchronous, and finish() hands out a copy.
const writer = new WireWriter();

/** The KeepAliveResponse of these results, as toBinary would write it. */
export function keepAliveResponseBinary(results: readonly KeepAliveResult[]): Buffer {
  writer.reset();
  for (const r of results) {
    writer.tag(RESPONSE_RESULTS, LENGTH_DELIMITED);
    const at = writer.fork();
    writeResult(writer, r);
    writer.join(at);
  }
  return writer.finish();
}

function writeResult(w: WireWriter, r: KeepAliveResult): void {
  if (r.token !== "") {
    w.tag(RESULT_TOKEN, LENGTH_DELIMITED);
    w.string(r.token);
  }
  // As keepAliveResultMessage: never UNSPECIFIED, so always written.
  w.tag(RESULT_STATUS, VARINT);
  w.varint(r.status === "ok" ? KeepAliveStatus.OK : KeepAliveStatus.NOT_FOUND);
  if (r.lease !== undefined) {
    w.tag(RESULT_LEASE, LENGTH_DELIMITED);
    const at = w.fork();
    writeLease(w, r.lease);
    w.join(at);
  }
  if (r.idleExpireTime !== undefined) writeTimestamp(w, RESULT_IDLE_EXPIRE_TIME, r.idleExpireTime);
}

function writeLease(w: WireWriter, l: Lease): void {
  if (l.pool !== "") {
    w.tag(LEASE_POOL, LENGTH_DELIMITED);
    w.string(l.pool);
  }
  if (l.token !== "") {
    w.tag(LEASE_TOKEN, LENGTH_DELIMITED);
    w.string(l.token);
  }
  if (l.owner !== "") {
    w.tag(LEASE_OWNER, LENGTH_DELIMITED);
    w.string(l.owner);
  }
  if (l.generation !== 0) {
    w.tag(LEASE_GENERATION, VARINT);
    w.varint(l.generation);
  }
  writeTimestamp(w, LEASE_EXPIRE_TIME, l.expireTime);
  if (l.idleExpireTime !== undefined) writeTimestamp(w, LEASE_IDLE_EXPIRE_TIME, l.idleExpireTime);
  writeDuration(w, LEASE_TTL, l.leaseTtlMs);
}

/** messages.ts's timestamp(ms) as a field: seconds floored, so nanos stay in [0, 1e9). */
function writeTimestamp(w: WireWriter, field: number, ms: number): void {
  const seconds = Math.floor(ms / 1000);
  writeSecondsNanos(w, field, seconds, (ms - seconds * 1000) * 1_000_000);
}

/** messages.ts's duration(ms) as a field: seconds and nanos both carry the sign. */
function writeDuration(w: WireWriter, field: number, ms: number): void {
  const abs = Math.abs(ms);
  const seconds = Math.floor(abs / 1000);
  const nanos = (abs - seconds * 1000) * 1_000_000;
  writeSecondsNanos(w, field, ms < 0 ? -seconds : seconds, ms < 0 ? -nanos : nanos);
}

/** A Timestamp or Duration body: at most 22 bytes, so its length always fits fork()'s one byte. */
function writeSecondsNanos(w: WireWriter, field: number, seconds: number, nanos: number): void {
  w.tag(field, LENGTH_DELIMITED);
  const at = w.fork();
  // `!== 0` is also false for -0, which protobuf-es does not write either.
  if (seconds !== 0) {
    w.tag(SECONDS, VARINT);
    w.int64(seconds);
  }
  if (nanos !== 0) {
    w.tag(NANOS, VARINT);
    w.int64(nanos);
  }
  w.join(at);
}
