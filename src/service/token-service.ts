// Every TokenService operation, transport-neutral: a decoded request message and the call's context in,
// a response message or a ServiceError value out. The auth decision, field validation and limits are
// made here, once, for every transport (Connect, grpc-js, the legacy HTTP API); transports only decode,
// call, and translate errors through the one table (transport/errors.ts).

import { create } from "@bufbuild/protobuf";
import {
  CreatePoolResponseSchema,
  DeletePoolResponseSchema,
  DeleteTokenResponseSchema,
  GenerateTokensResponseSchema,
  GetPoolResponseSchema,
  ListPoolsResponseSchema,
  TokenService,
  TokenState,
  type AssignTokenRequest,
  type AssignTokensRequest,
  type AssignTokensResponse,
  type CordonTokenRequest,
  type CordonTokenResponse,
  type ListTokensRequest,
  type ListTokensResponse,
  type UncordonTokenRequest,
  type UncordonTokenResponse,
  type UpdatePoolRequest,
  type UpdatePoolResponse,
  type AssignTokenResponse,
  type CreatePoolRequest,
  type CreatePoolResponse,
  type DeletePoolRequest,
  type DeletePoolResponse,
  type DeleteTokenRequest,
  type DeleteTokenResponse,
  type GenerateTokensRequest,
  type GenerateTokensResponse,
  type GetPoolRequest,
  type GetPoolResponse,
  type GetTokenRequest,
  type GetTokenResponse,
  type KeepAliveRequest,
  type KeepAliveResponse,
  type ListPoolsRequest,
  type ListPoolsResponse,
  type ReleaseTokenRequest,
  type ReleaseTokenResponse,
  type Token,
  type WatchLeasesRequest,
} from "../../gen/es/tokenpool/v1/token_service_pb.js";
import type { Limits } from "../config/limits.js";
import { err, ok, type KeepAliveResult, type PoolConfig, type Result, type TokenFilter } from "../core/types.js";
import type { Store } from "../store/store.js";
import { presentedCredential, type AuthFailure, type PasswordCheck } from "./auth.js";
import type { CallContext } from "./call.js";
import { countField, durationField, stringField, tokenList } from "./fields.js";
import { openLeaseWatch, type LeaseWatch } from "./lease-watch.js";
import { keepAliveResponseMessage, leaseMessage, listedTokenMessage, poolMessage, tokenMessage } from "./messages.js";
import { invalid, type ServiceError } from "./service-error.js";
import type { StreamGate } from "./stream-gate.js";

const DEFAULT_PAGE_SIZE = 100;
/** Quiet streams get a Progress message this often, so proxies and clients can tell quiet from dead. */
const DEFAULT_HEARTBEAT_MS = 15_000;
const MAX_PAGE_SIZE = 1000;

export type Unary<Req, Res> = (req: Req, call: CallContext) => Promise<Result<Res, ServiceError>>;

/** The TokenService, one function per RPC (method names as in the generated descriptor). */
export interface TokenServiceApi {
  readonly createPool: Unary<CreatePoolRequest, CreatePoolResponse>;
  readonly getPool: Unary<GetPoolRequest, GetPoolResponse>;
  readonly listPools: Unary<ListPoolsRequest, ListPoolsResponse>;
  readonly deletePool: Unary<DeletePoolRequest, DeletePoolResponse>;
  readonly generateTokens: Unary<GenerateTokensRequest, GenerateTokensResponse>;
  readonly assignToken: Unary<AssignTokenRequest, AssignTokenResponse>;
  readonly keepAlive: Unary<KeepAliveRequest, KeepAliveResponse>;
  /**
   * KeepAlive answered as the store's records, same checks: for a transport that writes the answer's
   * wire form itself (keep-alive-wire.ts) rather than build a message per token. keepAlive is this
   * plus the messages.
   */
  readonly keepAliveResults: Unary<KeepAliveRequest, readonly KeepAliveResult[]>;
  readonly releaseToken: Unary<ReleaseTokenRequest, ReleaseTokenResponse>;
  readonly deleteToken: Unary<DeleteTokenRequest, DeleteTokenResponse>;
  readonly getToken: Unary<GetTokenRequest, GetTokenResponse>;
  /**
   * Validates, takes a stream slot and opens the store's watch; the messages then come from the
   * returned LeaseWatch, which the transport must close() however the stream ends.
   */
  readonly watchLeases: Unary<WatchLeasesRequest, LeaseWatch>;
  readonly updatePool: Unary<UpdatePoolRequest, UpdatePoolResponse>;
  readonly assignTokens: Unary<AssignTokensRequest, AssignTokensResponse>;
  readonly listTokens: Unary<ListTokensRequest, ListTokensResponse>;
  readonly cordonToken: Unary<CordonTokenRequest, CordonTokenResponse>;
  readonly uncordonToken: Unary<UncordonTokenRequest, UncordonTokenResponse>;
}

/** ListTokens' state filter; TOKEN_STATE_UNSPECIFIED lists every token. */
const tokenFilters: ReadonlyMap<TokenState, TokenFilter | undefined> = new Map<TokenState, TokenFilter | undefined>([
  [TokenState.UNSPECIFIED, undefined],
  [TokenState.FREE, "free"],
  [TokenState.HELD, "held"],
  [TokenState.CORDONED, "cordoned"],
]);

export interface TokenServiceDeps {
  readonly store: Store;
  readonly limits: Limits;
  readonly streams: StreamGate;
  /** The API password; undefined serves without authentication (tests that exercise one layer). */
  readonly check: PasswordCheck | undefined;
  /** Told of every rejected credential (count and log; never the secret). */
  readonly onAuthFailure?: (failure: Omit<AuthFailure, "protocol">) => void;
  /** Told when a WatchLeases stream is cut off for falling behind (metrics). */
  readonly onWatchDropped?: () => void;
  /** Wall clock for watch heartbeats and warnings; Date.now unless a test substitutes one. */
  readonly now?: () => number;
}

type Method = keyof typeof TokenService.method;

export function createTokenService(deps: TokenServiceDeps): TokenServiceApi {
  const { store, limits, streams, check } = deps;
  const now = deps.now ?? Date.now;
  const routes = new Map<Method, string>();
  for (const [key, m] of Object.entries(TokenService.method)) routes.set(key as Method, `/${TokenService.typeName}/${m.name}`);

  /** The auth decision: undefined when the call may proceed, the error value otherwise. */
  const refused = (method: Method, call: CallContext): ServiceError | undefined => {
    if (check === undefined || call.authenticated === true || check.matchesHeaders(call.header)) return undefined;
    deps.onAuthFailure?.({ route: routes.get(method) as string, presented: presentedCredential(call.header), peer: call.peer });
    return { code: "UNAUTHENTICATED" };
  };

  /** The pool and token every per-token call names, checked in that order. */
  const tokenAddress = (req: { readonly pool: string; readonly token: string }): Result<{ pool: string; token: string }, ServiceError> => {
    const pool = stringField("pool", req.pool, limits, true);
    if (!pool.ok) return pool;
    const token = stringField("token", req.token, limits, true);
    return token.ok ? ok({ pool: pool.value, token: token.value }) : token;
  };

  /** CordonToken and UncordonToken differ only in the flag they set. */
  const setCordoned = async (
    method: "cordonToken" | "uncordonToken",
    req: { readonly pool: string; readonly token: string },
    call: CallContext,
    cordoned: boolean,
  ): Promise<Result<Token, ServiceError>> => {
    const denied = refused(method, call);
    if (denied) return err(denied);
    const at = tokenAddress(req);
    if (!at.ok) return at;
    const info = await store.setCordoned(at.value.pool, at.value.token, cordoned);
    return info.ok ? ok(listedTokenMessage(info.value)) : info;
  };

  const keepAliveResults: TokenServiceApi["keepAliveResults"] = async (req, call) => {
    const denied = refused("keepAlive", call);
    if (denied) return err(denied);
    const pool = stringField("pool", req.pool, limits, true);
    if (!pool.ok) return pool;
    const tokens = tokenList("tokens", req.tokens, limits, true);
    if (!tokens.ok) return tokens;
    return store.keepAlive(pool.value, tokens.value);
  };

  return {
    async createPool(req, call) {
      const denied = refused("createPool", call);
      if (denied) return err(denied);
      const name = stringField("name", req.name, limits, true);
      if (!name.ok) return name;
      const leaseTtl = durationField("lease_ttl", req.leaseTtl, limits.maxLeaseTtlMs);
      if (!leaseTtl.ok) return leaseTtl;
      const idleTtl = durationField("idle_ttl", req.idleTtl, limits.maxIdleTtlMs);
      if (!idleTtl.ok) return idleTtl;
      const initial = countField("initial_tokens", req.initialTokens, limits.maxGenerateCount);
      if (!initial.ok) return initial;
      const leaseTtlMs = leaseTtl.value;
      const idleTtlMs = idleTtl.value;
      const pool = await store.createPool(
        name.value,
        {
          ...(leaseTtlMs !== undefined && { leaseTtlMs }),
          ...(idleTtlMs !== undefined && { idleTtlMs }),
          ...(req.maxTokens > 0 && { maxTokens: req.maxTokens }),
          ...(req.maxLeasesPerOwner > 0 && { maxLeasesPerOwner: req.maxLeasesPerOwner }),
        },
        initial.value,
      );
      return pool.ok ? ok(create(CreatePoolResponseSchema, { pool: poolMessage(pool.value) })) : pool;
    },

    async getPool(req, call) {
      const denied = refused("getPool", call);
      if (denied) return err(denied);
      const name = stringField("name", req.name, limits, true);
      if (!name.ok) return name;
      const pool = await store.getPool(name.value);
      return pool.ok ? ok(create(GetPoolResponseSchema, { pool: poolMessage(pool.value) })) : pool;
    },

    async listPools(req, call) {
      const denied = refused("listPools", call);
      if (denied) return err(denied);
      const size = Math.min(req.pageSize || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
      const after = req.pageToken ? decodePageToken(req.pageToken) : undefined;
      // One extra tells whether another page exists without a second query.
      const pools = await store.listPools(after, size + 1);
      if (!pools.ok) return pools;
      const page = pools.value.slice(0, size);
      const last = page[page.length - 1];
      return ok(
        create(ListPoolsResponseSchema, {
          pools: page.map(poolMessage),
          nextPageToken: pools.value.length > size && last ? encodePageToken(last.name) : "",
        }),
      );
    },

    async deletePool(req, call) {
      const denied = refused("deletePool", call);
      if (denied) return err(denied);
      const name = stringField("name", req.name, limits, true);
      if (!name.ok) return name;
      const deleted = await store.deletePool(name.value);
      return deleted.ok ? ok(create(DeletePoolResponseSchema)) : deleted;
    },

    async generateTokens(req, call) {
      const denied = refused("generateTokens", call);
      if (denied) return err(denied);
      const pool = stringField("pool", req.pool, limits, true);
      if (!pool.ok) return pool;
      if (req.count > 0 && req.tokens.length > 0) return err(invalid("count", "set either count or tokens, not both"));
      let spec: { count: number } | { ids: readonly string[] };
      if (req.tokens.length > 0) {
        const ids = tokenList("tokens", req.tokens, limits, true);
        if (!ids.ok) return ids;
        spec = { ids: ids.value };
      } else {
        const count = countField("count", req.count, limits.maxGenerateCount);
        if (!count.ok) return count;
        if (count.value === 0) return err(invalid("count", "set count > 0 or list tokens"));
        spec = { count: count.value };
      }
      const generated = await store.generate(pool.value, spec);
      return generated.ok ? ok(create(GenerateTokensResponseSchema, generated.value)) : generated;
    },

    async assignToken(req, call) {
      const denied = refused("assignToken", call);
      if (denied) return err(denied);
      const pool = stringField("pool", req.pool, limits, true);
      if (!pool.ok) return pool;
      const owner = stringField("owner", req.owner, limits, false);
      if (!owner.ok) return owner;
      const requestId = stringField("request_id", req.requestId, limits, false);
      if (!requestId.ok) return requestId;
      const leaseTtl = durationField("lease_ttl", req.leaseTtl, limits.maxLeaseTtlMs);
      if (!leaseTtl.ok) return leaseTtl;
      const wait = durationField("wait_timeout", req.waitTimeout, limits.maxWaitMs);
      if (!wait.ok) return wait;
      const leaseTtlMs = leaseTtl.value;
      const waitMs = wait.value;
      const assigned = await store.assign(pool.value, owner.value, {
        ...(leaseTtlMs !== undefined && leaseTtlMs > 0 && { leaseTtlMs }),
        ...(requestId.value !== "" && { requestId: requestId.value }),
        ...(waitMs !== undefined && waitMs > 0 && { waitMs, signal: call.signal }),
      });
      if (!assigned.ok) return assigned;
      // The three hot answers are literal messages, like those of messages.ts.
      return ok({ $typeName: "tokenpool.v1.AssignTokenResponse", lease: leaseMessage(assigned.value.lease), available: assigned.value.available });
    },

    keepAlive: async (req, call) => {
      const results = await keepAliveResults(req, call);
      return results.ok ? ok(keepAliveResponseMessage(results.value)) : results;
    },

    keepAliveResults,

    async releaseToken(req, call) {
      const denied = refused("releaseToken", call);
      if (denied) return err(denied);
      const at = tokenAddress(req);
      if (!at.ok) return at;
      const owner = stringField("owner", req.owner, limits, false);
      if (!owner.ok) return owner;
      const released = await store.release(at.value.pool, at.value.token, {
        ...(req.generation > 0n && { generation: Number(req.generation) }),
        ...(owner.value !== "" && { owner: owner.value }),
      });
      return released.ok ? ok({ $typeName: "tokenpool.v1.ReleaseTokenResponse", available: released.value.available }) : released;
    },

    async deleteToken(req, call) {
      const denied = refused("deleteToken", call);
      if (denied) return err(denied);
      const at = tokenAddress(req);
      if (!at.ok) return at;
      const deleted = await store.deleteToken(at.value.pool, at.value.token);
      return deleted.ok ? ok(create(DeleteTokenResponseSchema)) : deleted;
    },

    async getToken(req, call) {
      const denied = refused("getToken", call);
      if (denied) return err(denied);
      const at = tokenAddress(req);
      if (!at.ok) return at;
      const info = await store.getToken(at.value.pool, at.value.token);
      return info.ok ? ok(tokenMessage(info.value)) : info;
    },

    async updatePool(req, call) {
      const denied = refused("updatePool", call);
      if (denied) return err(denied);
      const name = stringField("name", req.name, limits, true);
      if (!name.ok) return name;
      const leaseTtl = durationField("lease_ttl", req.leaseTtl, limits.maxLeaseTtlMs);
      if (!leaseTtl.ok) return leaseTtl;
      const idleTtl = durationField("idle_ttl", req.idleTtl, limits.maxIdleTtlMs);
      if (!idleTtl.ok) return idleTtl;
      const changes: Partial<PoolConfig> = {
        ...(leaseTtl.value !== undefined && { leaseTtlMs: leaseTtl.value }),
        ...(idleTtl.value !== undefined && { idleTtlMs: idleTtl.value }),
        ...(req.maxTokens !== 0 && { maxTokens: req.maxTokens }),
        ...(req.maxLeasesPerOwner !== undefined && { maxLeasesPerOwner: req.maxLeasesPerOwner }),
      };
      const pool = await store.updatePool(name.value, changes);
      return pool.ok ? ok({ $typeName: "tokenpool.v1.UpdatePoolResponse", pool: poolMessage(pool.value) }) : pool;
    },

    async assignTokens(req, call) {
      const denied = refused("assignTokens", call);
      if (denied) return err(denied);
      const pool = stringField("pool", req.pool, limits, true);
      if (!pool.ok) return pool;
      const owner = stringField("owner", req.owner, limits, false);
      if (!owner.ok) return owner;
      const requestId = stringField("request_id", req.requestId, limits, false);
      if (!requestId.ok) return requestId;
      if (req.count < 1 || req.count > limits.maxBatchTokens) return err(invalid("count", `must be from 1 to ${limits.maxBatchTokens}`));
      const leaseTtl = durationField("lease_ttl", req.leaseTtl, limits.maxLeaseTtlMs);
      if (!leaseTtl.ok) return leaseTtl;
      const wait = durationField("wait_timeout", req.waitTimeout, limits.maxWaitMs);
      if (!wait.ok) return wait;
      const leaseTtlMs = leaseTtl.value;
      const waitMs = wait.value;
      const assigned = await store.assignMany(pool.value, owner.value, req.count, {
        maxCount: limits.maxBatchTokens,
        ...(leaseTtlMs !== undefined && leaseTtlMs > 0 && { leaseTtlMs }),
        ...(requestId.value !== "" && { requestId: requestId.value }),
        ...(waitMs !== undefined && waitMs > 0 && { waitMs, signal: call.signal }),
      });
      if (!assigned.ok) return assigned;
      return ok({
        $typeName: "tokenpool.v1.AssignTokensResponse",
        leases: assigned.value.leases.map(leaseMessage),
        available: assigned.value.available,
      });
    },

    async listTokens(req, call) {
      const denied = refused("listTokens", call);
      if (denied) return err(denied);
      const pool = stringField("pool", req.pool, limits, true);
      if (!pool.ok) return pool;
      const owner = stringField("owner", req.owner, limits, false);
      if (!owner.ok) return owner;
      if (!tokenFilters.has(req.state)) return err(invalid("state", `unknown token state ${req.state}`));
      const state = tokenFilters.get(req.state);
      const size = Math.min(req.pageSize || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
      const page = await store.listTokens(pool.value, {
        limit: size,
        ...(state !== undefined && { state }),
        ...(owner.value !== "" && { owner: owner.value }),
        ...(req.pageToken !== "" && { after: decodePageToken(req.pageToken) }),
      });
      if (!page.ok) return page;
      return ok({
        $typeName: "tokenpool.v1.ListTokensResponse",
        tokens: page.value.tokens.map(listedTokenMessage),
        nextPageToken: page.value.next === undefined ? "" : encodePageToken(page.value.next),
      });
    },

    async cordonToken(req, call) {
      const token = await setCordoned("cordonToken", req, call, true);
      return token.ok ? ok({ $typeName: "tokenpool.v1.CordonTokenResponse", token: token.value }) : token;
    },

    async uncordonToken(req, call) {
      const token = await setCordoned("uncordonToken", req, call, false);
      return token.ok ? ok({ $typeName: "tokenpool.v1.UncordonTokenResponse", token: token.value }) : token;
    },

    async watchLeases(req, call) {
      const denied = refused("watchLeases", call);
      if (denied) return err(denied);
      if (req.allPools && (req.afterSequence > 0n || req.resume)) {
        return err(invalid("after_sequence", "cannot resume an all_pools watch: sequences are per pool"));
      }
      let pool = "";
      if (!req.allPools) {
        const named = stringField("pool", req.pool, limits, true);
        if (!named.ok) return named;
        pool = named.value;
      }
      const owner = stringField("owner", req.owner, limits, false);
      if (!owner.ok) return owner;
      const heartbeat = durationField("heartbeat_interval", req.heartbeatInterval, 3600_000);
      if (!heartbeat.ok) return heartbeat;
      const heartbeatMs = heartbeat.value || DEFAULT_HEARTBEAT_MS;
      if (heartbeatMs < 1000) return err(invalid("heartbeat_interval", "must be at least 1s"));
      if (!(req.expiringFraction >= 0 && req.expiringFraction < 1)) return err(invalid("expiring_fraction", "must be in [0, 1)"));
      if (req.expiringFraction > 0 && owner.value === "") {
        return err(invalid("expiring_fraction", "needs owner: warnings are for one holder's leases"));
      }
      if (!streams.tryAcquire()) return err({ code: "TOO_MANY_STREAMS", limit: limits.maxStreams });
      let watch: Awaited<ReturnType<Store["watch"]>>;
      try {
        watch = req.allPools ? await store.watchAll() : await store.watch(pool, req.afterSequence > 0n || req.resume ? Number(req.afterSequence) : undefined);
      } catch (e) {
        streams.release();
        throw e;
      }
      if (!watch.ok) {
        streams.release();
        return watch;
      }
      return ok(
        openLeaseWatch(watch.value, {
          shape: { types: new Set(req.types), owner: owner.value, heartbeatMs, expiringFraction: req.expiringFraction },
          signal: call.signal,
          now,
          release: () => streams.release(),
          ...(deps.onWatchDropped && { onDropped: deps.onWatchDropped }),
        }),
      );
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
