// TokenService over Connect (and gRPC, gRPC-Web through connect-node): a thin adapter that hands each
// decoded request to the transport-neutral service (src/service) and throws its error values as
// Connect errors from the one table. No rule, check or limit lives here.

import { ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { TokenService } from "../../../gen/es/tokenpool/v1/token_service_pb.js";
import type { Result } from "../../core/types.js";
import type { CallContext } from "../../service/call.js";
import type { ServiceError } from "../../service/service-error.js";
import type { TokenServiceApi } from "../../service/token-service.js";
import { peerAddress } from "../auth.js";
import { toConnectError } from "../errors.js";
import { streamReset } from "../http/stream-reset.js";
import { keepAliveAnswer } from "./keep-alive-answer.js";

/**
 * A watcher cut for falling behind gets this long for the transport to flush what it already holds,
 * then the error; a client still not reading by then has its stream reset (RESOURCE_EXHAUSTED on its
 * side), so the cut never waits on the write-stall timeout. connect-node logs that reset to stderr as
 * a failed handler: it sees a write fail, and only a CANCEL (which clients read as CANCELLED) is quiet.
 */
const SLOW_CONSUMER_FLUSH_MS = 1000;

/** The service's view of a Connect call. */
function callOf(ctx: HandlerContext): CallContext {
  const headers = ctx.requestHeader;
  return { signal: ctx.signal, header: (name) => headers.get(name), peer: ctx.values.get(peerAddress) };
}

/**
 * The value, or the error to throw. Once the call itself was ended by connect-es (deadline, client
 * gone, shutdown), its own reason is the answer: a wait cut short by the deadline reports
 * DEADLINE_EXCEEDED, not the plain cancel the store saw.
 */
function unwrap<T>(r: Result<T, ServiceError>, ctx: HandlerContext): T {
  if (r.ok) return r.value;
  if (r.error.code === "CANCELLED" && ctx.signal.reason instanceof ConnectError) throw ctx.signal.reason;
  throw toConnectError(r.error);
}

export function tokenService(service: TokenServiceApi): ServiceImpl<typeof TokenService> {
  return {
    createPool: async (req, ctx) => unwrap(await service.createPool(req, callOf(ctx)), ctx),
    getPool: async (req, ctx) => unwrap(await service.getPool(req, callOf(ctx)), ctx),
    listPools: async (req, ctx) => unwrap(await service.listPools(req, callOf(ctx)), ctx),
    deletePool: async (req, ctx) => unwrap(await service.deletePool(req, callOf(ctx)), ctx),
    generateTokens: async (req, ctx) => unwrap(await service.generateTokens(req, callOf(ctx)), ctx),
    assignToken: async (req, ctx) => unwrap(await service.assignToken(req, callOf(ctx)), ctx),
    // The store's records travel beside the message, for KeepAlive's Connect handler to write directly.
    keepAlive: async (req, ctx) => keepAliveAnswer(unwrap(await service.keepAliveResults(req, callOf(ctx)), ctx)),
    releaseToken: async (req, ctx) => unwrap(await service.releaseToken(req, callOf(ctx)), ctx),
    deleteToken: async (req, ctx) => unwrap(await service.deleteToken(req, callOf(ctx)), ctx),
    getToken: async (req, ctx) => unwrap(await service.getToken(req, callOf(ctx)), ctx),
    updatePool: async (req, ctx) => unwrap(await service.updatePool(req, callOf(ctx)), ctx),
    assignTokens: async (req, ctx) => unwrap(await service.assignTokens(req, callOf(ctx)), ctx),
    listTokens: async (req, ctx) => unwrap(await service.listTokens(req, callOf(ctx)), ctx),
    cordonToken: async (req, ctx) => unwrap(await service.cordonToken(req, callOf(ctx)), ctx),
    uncordonToken: async (req, ctx) => unwrap(await service.uncordonToken(req, callOf(ctx)), ctx),

    async *watchLeases(req, ctx) {
      const watch = unwrap(await service.watchLeases(req, callOf(ctx)), ctx);
      let flushTimer: NodeJS.Timeout | undefined;
      const reset = ctx.values.get(streamReset);
      if (reset) watch.onCut(() => (flushTimer = setTimeout(reset, SLOW_CONSUMER_FLUSH_MS)));
      try {
        yield* watch;
      } finally {
        clearTimeout(flushTimer);
        watch.close();
      }
      if (watch.endError !== undefined) throw toConnectError(watch.endError);
      // A stream ended by the call's deadline must say so, not end with OK.
      if (ctx.signal.aborted && ctx.signal.reason instanceof ConnectError) throw ctx.signal.reason;
    },
  };
}
