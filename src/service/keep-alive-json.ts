// KeepAliveResponse in canonical protobuf JSON, written straight from the store's KeepAliveResult records:
// the text toJsonString(KeepAliveResponseSchema, …) gives for the messages of messages.ts, without building them.
//
// Why: protobuf-es's toJson of a KeepAlive ×100 answer (100 nested messages walked reflectively, a JSON
// object tree built, then stringified) was the largest single cost of that call over Connect JSON
// (docs/BENCHMARKS.md). The JSON mapping followed is protobuf-es's: fields in field-number order under
// their jsonName, implicit-presence defaults left out, uint64 as a decimal string, enums by name,
// Timestamp as RFC 3339 with 0, 3, 6 or 9 fractional digits, Duration as "<seconds>[.frac]s", and the
// same range errors. Strings that need any escaping go through JSON.stringify, as protobuf-es's output does, so
// escaping (lone surrogates included) is the same by construction. test/service-layer/keep-alive-json.test.ts holds
// the text equal to toJsonString's over random records.

import type { KeepAliveResult, Lease } from "../core/types.js";

// protobuf-es's limits (wkt/json.js), enforced only in ProtoJSON.
const TIMESTAMP_MS_MIN = Date.parse("0001-01-01T00:00:00Z");
const TIMESTAMP_MS_MAX = Date.parse("9999-12-31T23:59:59Z");
const DURATION_SECONDS_MAX = 315_576_000_000;

/** Printable ASCII without `"` or `\\`: JSON.stringify would only add the quotes. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
/** A JSON string literal, as JSON.stringify writes it (which escapes lone surrogates as \\uXXXX). */
const quote = (s: string): string => (PLAIN.test(s) ? `"${s}"` : JSON.stringify(s));

const STATUS_OK = '"status":"KEEP_ALIVE_STATUS_OK"';
const STATUS_NOT_FOUND = '"status":"KEEP_ALIVE_STATUS_NOT_FOUND"';

/** The KeepAliveResponse of these results, as toJsonString would write it (no extra spaces). */
export function keepAliveResponseJson(results: readonly KeepAliveResult[]): string {
  if (results.length === 0) return "{}";
  let out = '{"results":[';
  for (let i = 0; i < results.length; i++) {
    const r = results[i] as KeepAliveResult;
    if (i > 0) out += ",";
    out += "{";
    if (r.token !== "") out += `"token":${quote(r.token)},`;
    // As keepAliveResultMessage: never UNSPECIFIED, so always written.
    out += r.status === "ok" ? STATUS_OK : STATUS_NOT_FOUND;
    if (r.lease !== undefined) out += `,"lease":${leaseJson(r.lease)}`;
    if (r.idleExpireTime !== undefined) out += `,"idleExpireTime":"${timestampJson(r.idleExpireTime)}"`;
    out += "}";
  }
  return out + "]}";
}

function leaseJson(l: Lease): string {
  // A set message is written even when all its fields are defaults; "," is only put between fields.
  let out = "{";
  if (l.pool !== "") out += `"pool":${quote(l.pool)},`;
  if (l.token !== "") out += `"token":${quote(l.token)},`;
  if (l.owner !== "") out += `"owner":${quote(l.owner)},`;
  if (l.generation !== 0) out += `"generation":"${l.generation}",`;
  // expireTime and leaseTtl are always set (messages.ts), so the object never ends on a ",".
  out += `"expireTime":"${timestampJson(l.expireTime)}",`;
  if (l.idleExpireTime !== undefined) out += `"idleExpireTime":"${timestampJson(l.idleExpireTime)}",`;
  return `${out}"leaseTtl":"${durationJson(l.leaseTtlMs)}"}`;
}

// The "YYYY-MM-DDTHH:MM:SS" of the last second formatted: the leases of one KeepAlive share their
// renewal time, so most timestamps of an answer fall in the same second, and a Date per timestamp
// (toISOString is most of a timestamp's cost) is paid once.
let cachedSeconds = Number.NaN;
let cachedPrefix = "";

/** messages.ts's timestamp(ms) in protobuf-es's timestampToJson. */
function timestampJson(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const nanos = (ms - seconds * 1000) * 1_000_000;
  const secondsMs = seconds * 1000;
  if (secondsMs < TIMESTAMP_MS_MIN || secondsMs > TIMESTAMP_MS_MAX) {
    throw new Error("cannot encode message google.protobuf.Timestamp to JSON: must be from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z inclusive");
  }
  if (seconds !== cachedSeconds) {
    cachedPrefix = new Date(secondsMs).toISOString().slice(0, 19);
    cachedSeconds = seconds;
  }
  return nanos === 0 ? `${cachedPrefix}Z` : `${cachedPrefix}.${fraction(nanos)}Z`;
}

/** messages.ts's duration(ms) in protobuf-es's durationToJson: seconds and nanos carry the sign. */
function durationJson(ms: number): string {
  const abs = Math.abs(ms);
  const seconds = Math.floor(abs / 1000);
  const nanos = (abs - seconds * 1000) * 1_000_000;
  if (seconds > DURATION_SECONDS_MAX) {
    throw new Error("cannot encode message google.protobuf.Duration to JSON: value out of range");
  }
  // protobuf-es writes BigInt(seconds): -0 has no sign there, so a sub-second negative is "-0.5s".
  const sign = ms < 0 && (seconds !== 0 || nanos !== 0) ? "-" : "";
  return nanos === 0 ? `${sign}${seconds}s` : `${sign}${seconds}.${fraction(nanos)}s`;
}

/** A positive nanos count as 3, 6 or 9 digits, the fewest that hold it exactly. */
function fraction(nanos: number): string {
  const digits = String(nanos + 1_000_000_000).slice(1);
  if (digits.endsWith("000000")) return digits.slice(0, 3);
  if (digits.endsWith("000")) return digits.slice(0, 6);
  return digits;
}
