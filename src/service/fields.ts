// Checks the wire-level shape of request fields (durations, batch sizes, string lengths) against the
// limits, naming the offending field; pool rules themselves are checked by the core.

import type { Duration } from "@bufbuild/protobuf/wkt";
import { err, ok, type Result } from "../core/types.js";
import type { Invalid } from "../core/validate.js";
import type { Limits } from "../config/limits.js";
import { invalid } from "./service-error.js";

const OK_UNDEFINED: Result<undefined, Invalid> = ok(undefined);

/**
 * A duration in whole ms within [0, maxMs]; undefined when the field is unset. A non-zero duration
 * below 1 ms is refused: it would truncate to 0, which means "unset" (the pool default) to the
 * fields that have one, so "0.0005s" silently became 30 s.
 */
export function durationField(field: string, d: Duration | undefined, maxMs: number): Result<number | undefined, Invalid> {
  if (d === undefined) return OK_UNDEFINED;
  if (d.seconds < 0n || d.nanos < 0) return err(invalid(field, "must not be negative"));
  if (d.nanos > 999_999_999) return err(invalid(field, "nanos must be below 1e9"));
  if (d.seconds > BigInt(Math.ceil(maxMs / 1000))) return err(invalid(field, `must be at most ${maxMs / 1000}s`));
  const ms = Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6);
  if (ms > maxMs) return err(invalid(field, `must be at most ${maxMs / 1000}s`));
  if (ms === 0 && d.nanos > 0) return err(invalid(field, "must be 0 or at least 1ms (durations are whole milliseconds)"));
  return ok(ms);
}

export function stringField(field: string, value: string, limits: Limits, required: boolean): Result<string, Invalid> {
  if (required && value.length === 0) return err(invalid(field, "is required"));
  if (value.length > limits.maxStringLength) return err(invalid(field, `must be at most ${limits.maxStringLength} characters`));
  return ok(value);
}

export function countField(field: string, value: number, max: number): Result<number, Invalid> {
  if (value > max) return err(invalid(field, `must be at most ${max}`));
  return ok(value);
}

export function tokenList(field: string, tokens: readonly string[], limits: Limits, required: boolean): Result<readonly string[], Invalid> {
  if (required && tokens.length === 0) return err(invalid(field, "must list at least one token"));
  if (tokens.length > limits.maxBatchTokens) return err(invalid(field, `must list at most ${limits.maxBatchTokens} tokens`));
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as string;
    if (t.length === 0) return err(invalid(`${field}[${i}]`, "must not be empty"));
    if (t.length > limits.maxStringLength) return err(invalid(`${field}[${i}]`, `must be at most ${limits.maxStringLength} characters`));
  }
  return ok(tokens);
}
