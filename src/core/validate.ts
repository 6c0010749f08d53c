// Argument rules of the core (names, ids, TTL bounds, counts) and the rule-violation values every store
// reports alike, returned as error values: the core and the Redis store both call these.

import type { CoreError, PoolConfig } from "./types.js";

export const MAX_LEASE_TTL_MS = 30 * 24 * 3600 * 1000;
export const MAX_IDLE_TTL_MS = 365 * 24 * 3600 * 1000;
export const MAX_POOL_TOKENS = 50_000_000;
export const MAX_TOKEN_ID_LENGTH = 128;
export const MAX_OWNER_LENGTH = 256;

const POOL_NAME = /^[A-Za-z0-9._-]{1,64}$/;
// Printable, no whitespace or control characters: ids travel in URLs, headers and logs.
const TOKEN_ID = /^[\x21-\x7e]+$/;

export type Invalid = Extract<CoreError, { code: "INVALID_ARGUMENT" }>;

const invalid = (field: string, message: string): Invalid => ({ code: "INVALID_ARGUMENT", field, message });

export function checkPoolName(name: string): Invalid | undefined {
  return POOL_NAME.test(name) ? undefined : invalid("name", "must be 1-64 characters of letters, digits, '.', '_' or '-'");
}

export function checkTokenId(id: string, field: string): Invalid | undefined {
  if (id.length === 0) return invalid(field, "must not be empty");
  if (id.length > MAX_TOKEN_ID_LENGTH) return invalid(field, `must be at most ${MAX_TOKEN_ID_LENGTH} characters`);
  return TOKEN_ID.test(id) ? undefined : invalid(field, "must be printable ASCII without spaces");
}

export function checkOwner(owner: string): Invalid | undefined {
  return owner.length > MAX_OWNER_LENGTH ? invalid("owner", `must be at most ${MAX_OWNER_LENGTH} characters`) : undefined;
}

export function checkLeaseTtl(ms: number): Invalid | undefined {
  if (!Number.isFinite(ms) || ms <= 0) return invalid("lease_ttl", "must be positive");
  return ms > MAX_LEASE_TTL_MS ? invalid("lease_ttl", `must be at most ${MAX_LEASE_TTL_MS / 1000}s`) : undefined;
}

export function checkIdleTtl(ms: number): Invalid | undefined {
  if (!Number.isFinite(ms) || ms < 0) return invalid("idle_ttl", "must not be negative");
  return ms > MAX_IDLE_TTL_MS ? invalid("idle_ttl", `must be at most ${MAX_IDLE_TTL_MS / 1000}s`) : undefined;
}

/** A pool's name and configuration, in the order every store reports a problem with them. */
export function checkPool(name: string, config: PoolConfig): Invalid | undefined {
  return (
    checkPoolName(name) ??
    checkLeaseTtl(config.leaseTtlMs) ??
    checkIdleTtl(config.idleTtlMs) ??
    checkMaxTokens(config.maxTokens) ??
    checkOwnerQuota(config.maxLeasesPerOwner)
  );
}

export function checkOwnerQuota(n: number): Invalid | undefined {
  return Number.isInteger(n) && n >= 0 && n <= MAX_POOL_TOKENS
    ? undefined
    : invalid("max_leases_per_owner", `must be from 0 (no limit) to ${MAX_POOL_TOKENS}`);
}

/** How many tokens one gang (AssignTokens) asks for. */
export function checkGangSize(count: number, limit: number): Invalid | undefined {
  return Number.isInteger(count) && count >= 1 && count <= limit ? undefined : invalid("count", `must be from 1 to ${limit}`);
}

/** Over quota: what the owner already uses (held + waiting) plus what it asks for exceeds the limit. */
export function ownerQuotaExceeded(pool: string, owner: string, limit: number, used: number, requested: number): CoreError | undefined {
  return limit !== 0 && used + requested > limit ? { code: "OWNER_QUOTA_EXCEEDED", pool, owner, limit, used, requested } : undefined;
}

/** How many tokens to generate. */
export function checkCount(count: number): Invalid | undefined {
  return Number.isInteger(count) && count >= 0 ? undefined : invalid("count", "must be a whole number");
}

export function checkMaxTokens(n: number): Invalid | undefined {
  return Number.isInteger(n) && n >= 1 && n <= MAX_POOL_TOKENS ? undefined : invalid("max_tokens", `must be from 1 to ${MAX_POOL_TOKENS}`);
}

/** A release that named the wrong lease: the holder's generation or owner is not the one asked for. */
export function leaseMismatch(
  pool: string,
  token: string,
  held: { readonly generation: number; readonly asked: number } | { readonly owner: string; readonly asked: string },
): CoreError {
  const message =
    "generation" in held
      ? `lease generation is ${held.generation}, not ${held.asked}`
      : `lease is held by "${held.owner}", not "${held.asked}"`;
  return { code: "LEASE_MISMATCH", pool, token, message };
}
