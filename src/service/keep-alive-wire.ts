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
import {
  key,
  LENGTH_DELIMITED,
  OPEN_FIELD_BYTES,
  SECONDS_NANOS_FIELD_MAX_BYTES,
  stringFieldMaxBytes,
  VARINT,
  VARINT_FIELD_MAX_BYTES,
  WireWriter,
} from "./wire-writer.js";

/** The keys of each field, by message. */
const RESPONSE_RESULTS = key(1, LENGTH_DELIMITED);
const RESULT_TOKEN = key(1, LENGTH_DELIMITED);
const RESULT_STATUS = key(2, VARINT);
const RESULT_LEASE = key(3, LENGTH_DELIMITED);
const RESULT_IDLE_EXPIRE_TIME = key(4, LENGTH_DELIMITED);
const LEASE_POOL = key(1, LENGTH_DELIMITED);
const LEASE_TOKEN = key(2, LENGTH_DELIMITED);
const LEASE_OWNER = key(3, LENGTH_DELIMITED);
const LEASE_GENERATION = key(4, VARINT);
const LEASE_EXPIRE_TIME = key(5, LENGTH_DELIMITED);
const LEASE_IDLE_EXPIRE_TIME = key(6, LENGTH_DELIMITED);
const LEASE_TTL = key(7, LENGTH_DELIMITED);

// One scratch buffer for the process: encoding is synchronous, and finish() hands out a copy.
const writer = new WireWriter();

/**
 * The KeepAliveResponse of these results, as toBinary would write it. `w`: the process's scratch
 * writer; a test passes a fresh one of one byte, so each growth is exactly what was reserved.
 */
export function keepAliveResponseBinary(results: readonly KeepAliveResult[], w: WireWriter = writer): Buffer {
  w.reset();
  for (const r of results) {
    w.reserve(maxResultBytes(r));
    const at = w.openField(RESPONSE_RESULTS);
    if (r.token !== "") w.stringField(RESULT_TOKEN, r.token);
    // As keepAliveResultMessage: never UNSPECIFIED, so always written.
    w.varintField(RESULT_STATUS, r.status === "ok" ? KeepAliveStatus.OK : KeepAliveStatus.NOT_FOUND);
    if (r.lease !== undefined) writeLease(w, r.lease);
    if (r.idleExpireTime !== undefined) writeTimestamp(w, RESULT_IDLE_EXPIRE_TIME, r.idleExpireTime);
    w.join(at);
  }
  return w.finish();
}

/** The most writing this result can take (the writer's field methods do not check capacity). */
function maxResultBytes(r: KeepAliveResult): number {
  const fixed = OPEN_FIELD_BYTES + stringFieldMaxBytes(r.token) + VARINT_FIELD_MAX_BYTES + SECONDS_NANOS_FIELD_MAX_BYTES;
  const l = r.lease;
  if (l === undefined) return fixed;
  return fixed + OPEN_FIELD_BYTES + stringFieldMaxBytes(l.pool) + stringFieldMaxBytes(l.token) + stringFieldMaxBytes(l.owner) + VARINT_FIELD_MAX_BYTES + 3 * SECONDS_NANOS_FIELD_MAX_BYTES;
}

function writeLease(w: WireWriter, l: Lease): void {
  const at = w.openField(RESULT_LEASE);
  if (l.pool !== "") w.stringField(LEASE_POOL, l.pool);
  if (l.token !== "") w.stringField(LEASE_TOKEN, l.token);
  if (l.owner !== "") w.stringField(LEASE_OWNER, l.owner);
  if (l.generation !== 0) w.varintField(LEASE_GENERATION, l.generation);
  writeTimestamp(w, LEASE_EXPIRE_TIME, l.expireTime);
  if (l.idleExpireTime !== undefined) writeTimestamp(w, LEASE_IDLE_EXPIRE_TIME, l.idleExpireTime);
  // messages.ts's duration(ms): seconds and nanos both carry the sign.
  const ms = l.leaseTtlMs;
  const abs = Math.abs(ms);
  const seconds = Math.floor(abs / 1000);
  const nanos = (abs - seconds * 1000) * 1_000_000;
  w.secondsNanosField(LEASE_TTL, ms < 0 ? -seconds : seconds, ms < 0 ? -nanos : nanos);
  w.join(at);
}

/** messages.ts's timestamp(ms): seconds floored, so nanos stay in [0, 1e9). */
function writeTimestamp(w: WireWriter, key: number, ms: number): void {
  const seconds = Math.floor(ms / 1000);
  w.secondsNanosField(key, seconds, (ms - seconds * 1000) * 1_000_000);
}
