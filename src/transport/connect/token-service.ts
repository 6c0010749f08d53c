// TokenService handlers: decode and check the request, call the store, encode the answer or throw
// the mapped error. No pool rules live here.

import { ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { TokenService } from "../../../gen/es/tokenpool/v1/token_service_pb.js";
import type { Result } from "../../core/types.js";
import type { Store } from "../../store/store.js";
import { toConnectError, type ServiceError } from "../errors.js";
import type { Limits } from "../../config/limits.js";
import { keepAliveResultMessage, leaseMessage, poolMessage, tokenMessage } from "./convert.js";
import { countField, durationField, stringField, tokenList, type Checked } from "./requests.js";
import { shapeWatch } from "./watch-stream.js";

/** Returns the value or throws the wire error: handlers read top to bottom. */
function unwrap<T>(r: Result<T, ServiceError> | Checked<T>): T {
  if (!r.ok) throw toConnectError(r.error);
  return r.value;
}

const DEFAULT_PAGE_SIZE = 100;
/** Quiet streams get a Progress message this often, so proxies and clients can tell quiet from dead. */
const DEFAULT_HEARTBEAT_MS = 15_000;
const MAX_PAGE_SIZE = 1000;

export interface StreamGate {
  /** Takes a stream slot, or says no when the limit is reached. */
  tryAcquire(): boolean;
  release(): void;
}

export function tokenService(
  store: Store,
  limits: Limits,
  streams: StreamGate,
  onWatchDropped?: () => void,
): ServiceImpl<typeof TokenService> {
  return {
    async createPool(req) {
      const name = unwrap(stringField("name", req.name, limits, true));
      const leaseTtlMs = unwrap(durationField("lease_ttl", req.leaseTtl, limits.maxLeaseTtlMs));
      const idleTtlMs = unwrap(durationField("idle_ttl", req.idleTtl, limits.maxIdleTtlMs));
      const initial = unwrap(countField("initial_tokens", req.initialTokens, limits.maxGenerateCount));
      const pool = unwrap(
        await store.createPool(
          name,
          {
            ...(leaseTtlMs !== undefined && { leaseTtlMs }),
            ...(idleTtlMs !== undefined && { idleTtlMs }),
            ...(req.maxTokens > 0 && { maxTokens: req.maxTokens }),
          },
          initial,
        ),
      );
      return { pool: poolMessage(pool) };
    },

    async getPool(req) {
      const name = unwrap(stringField("name", req.name, limits, true));
      return { pool: poolMessage(unwrap(await store.getPool(name))) };
    },

    async listPools(req) {
      const size = Math.min(req.pageSize || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
      const after = req.pageToken ? decodePageToken(req.pageToken) : undefined;
      // One extra tells whether another page exists without a second query.
      const pools = unwrap(await store.listPools(after, size + 1));
      const page = pools.slice(0, size);
      const last = page[page.length - 1];
      return {
        pools: page.map(poolMessage),
        nextPageToken: pools.length > size && last ? encodePageToken(last.name) : "",
      };
    },

    async deletePool(req) {
      const name = unwrap(stringField("name", req.name, limits, true));
      unwrap(await store.deletePool(name));
      return {};
    },

    async generateTokens(req) {
      const pool = unwrap(stringField("pool", req.pool, limits, true));
      if (req.count > 0 && req.tokens.length > 0) {
        throw toConnectError({ code: "INVALID_ARGUMENT", field: "count", message: "set either count or tokens, not both" });
      }
      const spec =
        req.tokens.length > 0
          ? { ids: unwrap(tokenList("tokens", req.tokens, limits, true)) }
          : { count: unwrap(countField("count", req.count, limits.maxGenerateCount)) };
      if ("count" in spec && spec.count === 0) {
        throw toConnectError({ code: "INVALID_ARGUMENT", field: "count", message: "set count > 0 or list tokens" });
      }
      const { tokens, available } = unwrap(await store.generate(pool, spec));
      return { tokens, available };
    },

    async assignToken(req, ctx) {
      const pool = unwrap(stringField("pool", req.pool, limits, true));
      const owner = unwrap(stringField("owner", req.owner, limits, false));
      const requestId = unwrap(stringField("request_id", req.requestId, limits, false));
      const leaseTtlMs = unwrap(durationField("lease_ttl", req.leaseTtl, limits.maxLeaseTtlMs));
      const waitMs = unwrap(durationField("wait_timeout", req.waitTimeout, limits.maxWaitMs));
      const assigned = await store.assign(pool, owner, {
        ...(leaseTtlMs !== undefined && leaseTtlMs > 0 && { leaseTtlMs }),
        ...(requestId !== "" && { requestId }),
        ...(waitMs !== undefined && waitMs > 0 && { waitMs, signal: ctx.signal }),
      });
      // A wait cut short by the call's deadline reports DEADLINE_EXCEEDED, not a plain cancel.
      if (!assigned.ok && assigned.error.code === "CANCELLED" && ctx.signal.reason instanceof ConnectError) throw ctx.signal.reason;
      const { lease, available } = unwrap(assigned);
      return { lease: leaseMessage(lease), available };
    },

    async keepAlive(req) {
      const pool = unwrap(stringField("pool", req.pool, limits, true));
      const tokens = unwrap(tokenList("tokens", req.tokens, limits, true));
      return { results: unwrap(await store.keepAlive(pool, tokens)).map(keepAliveResultMessage) };
    },

    async releaseToken(req) {
      const pool = unwrap(stringField("pool", req.pool, limits, true));
      const token = unwrap(stringField("token", req.token, limits, true));
      const owner = unwrap(stringField("owner", req.owner, limits, false));
      const released = unwrap(
        await store.release(pool, token, {
          ...(req.generation > 0n && { generation: Number(req.generation) }),
          ...(owner !== "" && { owner }),
        }),
      );
      return { available: released.available };
    },

    async deleteToken(req) {
      const pool = unwrap(stringField("pool", req.pool, limits, true));
      const token = unwrap(stringField("token", req.token, limits, true));
      unwrap(await store.deleteToken(pool, token));
      return {};
    },

    async getToken(req) {
      const pool = unwrap(stringField("pool", req.pool, limits, true));
      const token = unwrap(stringField("token", req.token, limits, true));
      return tokenMessage(unwrap(await store.getToken(pool, token)));
    },

    async *watchLeases(req, ctx) {
      if (req.allPools && req.afterSequence > 0n) {
        throw toConnectError({ code: "INVALID_ARGUMENT", field: "after_sequence", message: "cannot resume an all_pools watch: sequences are per pool" });
      }
      const pool = req.allPools ? "" : unwrap(stringField("pool", req.pool, limits, true));
      const owner = unwrap(stringField("owner", req.owner, limits, false));
      const heartbeatMs = unwrap(durationField("heartbeat_interval", req.heartbeatInterval, 3600_000)) || DEFAULT_HEARTBEAT_MS;
      if (heartbeatMs < 1000) throw toConnectError({ code: "INVALID_ARGUMENT", field: "heartbeat_interval", message: "must be at least 1s" });
      if (!(req.expiringFraction >= 0 && req.expiringFraction < 1)) {
        throw toConnectError({ code: "INVALID_ARGUMENT", field: "expiring_fraction", message: "must be in [0, 1)" });
      }
      if (req.expiringFraction > 0 && owner === "") {
        throw toConnectError({ code: "INVALID_ARGUMENT", field: "expiring_fraction", message: "needs owner: warnings are for one holder's leases" });
      }
      if (!streams.tryAcquire()) throw toConnectError({ code: "TOO_MANY_STREAMS", limit: limits.maxStreams });
      try {
        const watch = unwrap(req.allPools ? await store.watchAll() : await store.watch(pool, Number(req.afterSequence)));
        const stop = (): void => watch.end();
        ctx.signal.addEventListener("abort", stop, { once: true });
        try {
          yield* shapeWatch(watch, { types: new Set(req.types), owner, heartbeatMs, expiringFraction: req.expiringFraction }, ctx.signal, Date.now);
        } finally {
          ctx.signal.removeEventListener("abort", stop);
          watch.end();
        }
        if (watch.endReason?.code === "SLOW_CONSUMER") onWatchDropped?.();
        if (watch.endReason && !ctx.signal.aborted) throw toConnectError(watch.endReason);
        // A stream ended by the call's deadline must say so, not end with OK.
        if (ctx.signal.aborted && ctx.signal.reason instanceof ConnectError) throw ctx.signal.reason;
      } finally {
        streams.release();
      }
    },
  };
}

// Page tokens are opaque to clients so the cursor format can change without breaking them.
function encodePageToken(lastName: string): string {
  return Buffer.from(lastName, "utf8").toString("base64url");
}

function decodePageToken(token: string): string {
  return Buffer.from(token, "base64url").toString("utf8");
}
