// Argument rules of the core (names, ids, TTL bounds), returned as INVALID_ARGUMENT values.

import type { CoreError } from "./types.js";

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

export function checkMaxTokens(n: number): Invalid | undefined {
  return Number.isInteger(n) && n >= 1 && n <= MAX_POOL_TOKENS ? undefined : invalid("max_tokens", `must be from 1 to ${MAX_POOL_TOKENS}`);
}
