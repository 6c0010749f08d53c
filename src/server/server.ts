// Wires the service together: store, Connect routes with auth, metrics and request ids, the plain HTTP
// routes (legacy API, health, metrics), and the one-port HTTP/1.1 + h2c listener. The port opens
// before the store: probes are answered (not ready) while it recovers. Returns a handle for shutdown.

import { randomBytes } from "node:crypto";
import { createContextValues } from "@connectrpc/connect";
import type { UniversalHandlerOptions } from "@connectrpc/connect/protocol";
import { compressionBrotli, compressionGzip, connectNodeAdapter } from "@connectrpc/connect-node";
import type { Config } from "../config/config.js";
import { Metrics } from "../ops/metrics.js";
import { opsRoutes } from "../ops/ops-routes.js";
import { grpcCallObserver, instrumentRoutes, REQUEST_ID_HEADER, requestLogInterceptor } from "../ops/request-log.js";
import { requestIdOf } from "../service/request-id.js";
import type { Clock } from "../runtime/clock.js";
import { DeferredStore } from "../store/deferred-store.js";
import { DEFAULT_POOL, openingReason, openStore } from "./open-store.js";
import type { Store } from "../store/store.js";
import { createLegacyService } from "../service/legacy-service.js";
import { createStreamGate } from "../service/stream-gate.js";
import { createTokenService } from "../service/token-service.js";
import { AuthFailureLog, PasswordCheck, peerAddress } from "../transport/auth.js";
import { streamReset, streamResetOf } from "../transport/http/stream-reset.js";
import { guardConnectHandler } from "../transport/connect/adapter-guards.js";
import { checkGetRequest } from "../transport/connect/get-requests.js";
import { requestJsonOptions } from "../transport/connect/json-text.js";
import { openServices, PROTECTED, routes } from "../transport/connect/routes.js";
import { grpcEngine } from "../transport/grpc/grpc-engine.js";
import { authGate, type AuthGateOptions } from "../transport/http/auth-gate.js";
import { streamAuthGate } from "../transport/http/stream-auth-gate.js";
import { withCors } from "../transport/http/cors.js";
import { fallbackRouter } from "../transport/http/fallback.js";
import { docsRoutes } from "../transport/docs/docs-routes.js";
import { OnePortServer } from "../transport/http/one-port.js";
import { legacyRoutes } from "../transport/legacy/legacy-routes.js";
import type { Logger } from "../runtime/logger.js";
import { transportErrorLog } from "./transport-error-log.js";

export interface RunningServer {
  readonly port: number;
  readonly url: string;
  readonly store: Store;
  readonly metrics: Metrics;
  /** Stops accepting, lets in-flight calls finish (bounded), ends streams, closes the store. */
  close(): Promise<void>;
}

export interface StartOptions {
  readonly clock: Clock;
  readonly log: Logger;
  /** Where a generated password is announced (stderr in production). */
  readonly announcePassword: (password: string) => void;
  /** Called once the port is open, before the store is (probes answer from then on). */
  readonly onListening?: (url: string) => void;
  /**
   * false: KeepAlive over Connect answered by connect-node's own handler (protobuf-es serialization)
   * instead of from the store's records; tests compare the two paths answer for answer. Default true.
   */
  readonly connectKeepAliveEncoders?: boolean;
}

/** Pools exported with their own labels on /metrics; beyond this, labels would explode. */
const MAX_POOLS_LABELLED = 100;

export async function startServer(config: Config, options: StartOptions): Promise<RunningServer> {
  const { log, clock } = options;
  const password = config.apiPassword ?? generatePassword(options.announcePassword);
  const check = new PasswordCheck(password);
  // Calls get UNAVAILABLE (and /readyz says why) until the real store is attached.
  const store = new DeferredStore(config.store, openingReason(config));
  const streams = createStreamGate(config.limits.maxStreams);
  let shuttingDown = false;

  const metrics = new Metrics(
    {
      pools: async (limit) => {
        const listed = await store.listPools(undefined, limit);
        return listed.ok ? listed.value : [];
      },
    },
    { maxPoolsLabelled: MAX_POOLS_LABELLED, activeStreams: () => streams.open() },
  );
  // Every rejected credential is counted; the log gets the first of a burst and a summary, never the secret.
  const authFailures = new AuthFailureLog(log, (protocol) => metrics.authFailed(protocol));
  const readiness = {
    notReadyReason: (): string | undefined => {
      if (shuttingDown) return "shutting down";
      const reason = store.notReadyReason();
      return reason === undefined ? undefined : `store ${store.kind}: ${reason}`;
    },
  };

  // The one TokenService every transport adapts: auth, validation and limits live in it.
  const tokenService = createTokenService({
    store,
    limits: config.limits,
    streams,
    check,
    onAuthFailure: (f) => authFailures.record({ protocol: "rpc", ...f }),
    onWatchDropped: () => metrics.watchDropped(),
    now: () => clock.now(),
  });
  // The old Python API's operations on the default pool, for the legacy routes.
  const legacyService = createLegacyService({
    store,
    pool: DEFAULT_POOL,
    leaseTtlMs: config.legacyLeaseTtlMs,
    check,
    onAuthFailure: (f) => authFailures.record({ protocol: "legacy", ...f }),
  });

  // Health and reflection, shared by both engines so each exists once.
  const open = openServices(readiness.notReadyReason);
  // The password check from the headers, before any body is read, on both engines.
  const auth: AuthGateOptions = {
    check,
    services: PROTECTED,
    requestId: requestIdOf,
    requestIdHeader: REQUEST_ID_HEADER,
    onReject: ({ method, requestId, seconds, stage, ...f }) => {
      authFailures.record({ protocol: "rpc", ...f });
      metrics.observeRpc(method, "unauthenticated", seconds);
      if (stage === "stream") metrics.authRejectedAtStream();
      if (log.isLevelEnabled("debug")) log.debug({ method: f.route.slice(1), code: "Unauthenticated", ms: Math.round(seconds * 1000), requestId }, "rpc");
    },
  };
  // Native gRPC connections go to grpc-js (unless configured otherwise), serving the same service.
  const grpc =
    config.grpcEngine === "grpc-js"
      ? grpcEngine({
          service: tokenService,
          open: open.map((s) => s.spec),
          observer: grpcCallObserver(log, metrics),
          limits: config.limits,
          connections: config.connections,
          auth,
        })
      : undefined;
  // The Connect router's options, written once: KeepAlive's own Connect handler is built with the
  // same ones (limits, gate, interceptors, compressions), so its calls are handled by the same rules.
  const connectOptions = {
    // Outermost first: the request id wraps everything, so even an auth failure carries it.
    interceptors: [requestLogInterceptor(log), metrics.interceptor()],
    readMaxBytes: config.limits.maxRequestBytes,
    // Hardening of connect-es's request decoding: JSON text that cannot carry a lone surrogate into
    // an error message, and malformed GET query messages answered INVALID_ARGUMENT (not INTERNAL).
    jsonOptions: requestJsonOptions,
    requestGate: checkGetRequest,
    // connect-node's default, spelled out so KeepAlive's handler accepts exactly the same.
    acceptCompression: [compressionGzip, compressionBrotli],
  } satisfies Partial<UniversalHandlerOptions>;
  const keepAliveEncoders = options.connectKeepAliveEncoders === false ? undefined : connectOptions;
  const handler = connectNodeAdapter({
    ...connectOptions,
    routes: routes({ service: tokenService, notReadyReason: readiness.notReadyReason, keepAliveEncoders }, open),
    // The client address, for the auth failure log.
    contextValues: (req) => createContextValues().set(peerAddress, req.socket?.remoteAddress).set(streamReset, streamResetOf(req)),
    fallback: fallbackRouter(
      instrumentRoutes(
        [
          ...opsRoutes(readiness, metrics, { metricsToken: config.metricsToken, onAuthFailure: () => metrics.authFailed("metrics") }),
          ...docsRoutes(),
          ...legacyRoutes({ service: legacyService }),
        ],
        metrics,
        log,
      ),
      (e, res) => log.error({ err: e, requestId: res.getHeader(REQUEST_ID_HEADER) }, "http route failed"),
    ),
  });
  // Credentials are checked from the headers before connect-node reads a byte of the body.
  const gated = authGate(auth, guardConnectHandler(handler));
  // Outside the auth gate: a browser's preflight carries no password. (Native gRPC on the grpc-js
  // engine never comes from a browser, so it needs none.)
  const served = config.corsOrigins.length > 0 ? withCors(config.corsOrigins, gated) : gated;
  const server = new OnePortServer({
    handler: served,
    ...config.connections,
    // Most unauthenticated HTTP/2 calls are answered here, before connect-node or the compat layer see them.
    streamGate: streamAuthGate({ auth, cors: config.corsOrigins.length > 0 }),
    onError: transportErrorLog(log, clock),
    ...(grpc && { grpc }),
  });
  const address = await server.listen(config.port, config.host);
  const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${shownHost}:${address.port}`;
  options.onListening?.(url);

  let opened: Store;
  try {
    opened = await openStore(config, clock, log, metrics.storeObserver());
  } catch (e) {
    await server.close(0);
    grpc?.close();
    throw e;
  }
  store.attach(opened);

  let closing: Promise<void> | undefined;
  return {
    port: address.port,
    url,
    store: opened,
    metrics,
    close: () =>
      (closing ??= (async () => {
        shuttingDown = true;
        authFailures.flush();
        // Ending watches first lets their trailers go out before connections are cut.
        const serverClosed = server.close(config.shutdownGraceMs);
        await store.close();
        await serverClosed;
        grpc?.close();
      })()),
  };
}

function generatePassword(announce: (password: string) => void): string {
  const password = randomBytes(24).toString("base64url");
  announce(password);
  return password;
}
