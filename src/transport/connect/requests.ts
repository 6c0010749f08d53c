// Checks the wire-level shape of requests (durations, batch sizes, exclusive fields) against the
// limits, naming the offending field; pool rules themselves are checked by the core.

import type { Duration } from "@bufbuild/protobuf/wkt";
import type { CoreError } from "../../core/types.js";
import type { Limits } from "../../config/limits.js";

export type Checked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: CoreError };

const invalid = (field: string, message: string): Checked<never> => ({
  ok: false,
  error: { code: "INVALID_ARGUMENT", field, message },
});

/** A duration in ms within [0, maxMs]; undefined when the field is unset. */
export function durationField(field: string, d: Duration | undefined, maxMs: number): Checked<number | undefined> {
  if (d === undefined) return { ok: true, value: undefined };
  if (d.seconds < 0n || d.nanos < 0) return invalid(field, "must not be negative");
  if (d.nanos > 999_999_999) return invalid(field, "nanos must be below 1e9");
  if (d.seconds > BigInt(Math.ceil(maxMs / 1000))) return invalid(field, `must be at most ${maxMs / 1000}s`);
  const ms = Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6);
  if (ms > maxMs) return invalid(field, `must be at most ${maxMs / 1000}s`);
  return { ok: true, value: ms };
}

export function stringField(field: string, value: string, limits: Limits, required: boolean): Checked<string> {
  if (required && value.length === 0) return invalid(field, "is required");
  if (value.length > limits.maxStringLength) return invalid(field, `must be at most ${limits.maxStringLength} characters`);
  return { ok: true, value };
}

export function countField(field: string, value: number, max: number): Checked<number> {
  if (value > max) return invalid(field, `must be at most ${max}`);
  return { ok: true, value };
}

export function tokenList(field: string, tokens: readonly string[], limits: Limits, required: boolean): Checked<readonly string[]> {
  if (required && tokens.length === 0) return invalid(field, "must list at least one token");
  if (tokens.length > limits.maxBatchTokens) return invalid(field, `must list at most ${limits.maxBatchTokens} tokens`);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as string;
    if (t.length === 0) return invalid(`${field}[${i}]`, "must not be empty");
    if (t.length > limits.maxStringLength) return invalid(`${field}[${i}]`, `must be at most ${limits.maxStringLength} characters`);
  }
  return { ok: true, value: tokens };
}
