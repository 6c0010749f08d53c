// Wires the service together: store, Connect routes with auth and metrics, the plain HTTP routes
// (legacy API, health, metrics), and the one-port HTTP/1.1 + h2c listener. Returns a handle for
// graceful shutdown.

import { randomBytes } from "node:crypto";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Config } from "../config/config.js";
import { Metrics } from "../ops/metrics.js";
import { opsRoutes } from "../ops/ops-routes.js";
import type { Clock } from "../runtime/clock.js";
import { DEFAULT_POOL, openStore } from "../store/open-store.js";
import type { Store } from "../store/store.js";
import { authInterceptor, PasswordCheck } from "../transport/auth.js";
import { PROTECTED_SERVICES, routes, streamGate } from "../transport/connect/routes.js";
import { fallbackRouter } from "../transport/http/fallback.js";
import { docsRoutes } from "../transport/docs/docs-routes.js";
import { OnePortServer } from "../transport/http/one-port.js";
import { legacyRoutes } from "../transport/legacy/legacy-routes.js";
import type { Logger } from "./logger.js";

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
}

/** Pools exported with their own labels on /metrics; beyond this, labels would explode. */
const MAX_POOLS_LABELLED = 100;

export async function startServer(config: Config, options: StartOptions): Promise<RunningServer> {
  const { log, clock } = options;
  const password = config.apiPassword ?? generatePassword(options.announcePassword);
  const check = new PasswordCheck(password);
  const store = await openStore(config, clock, log);
  const streams = streamGate(config.limits.maxStreams);
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
  const readiness = {
    notReadyReason: (): string | undefined => {
      if (shuttingDown) return "shutting down";
      if (store.ready && !store.ready()) return `store ${store.kind} unreachable`;
      return undefined;
    },
  };

  const handler = connectNodeAdapter({
    routes: routes({ store, limits: config.limits, streams, notReadyReason: readiness.notReadyReason }),
    interceptors: [metrics.interceptor(), authInterceptor(check, PROTECTED_SERVICES, () => metrics.authFailed("rpc"))],
    readMaxBytes: config.limits.maxRequestBytes,
    fallback: fallbackRouter(
      [
        ...opsRoutes(readiness, metrics),
        ...docsRoutes(),
        ...legacyRoutes({
          store,
          pool: DEFAULT_POOL,
          leaseTtlMs: config.legacyLeaseTtlMs,
          check,
          observe: (route, status) => metrics.observeHttp(route, status),
          onAuthFailure: () => metrics.authFailed("legacy"),
        }),
      ],
      (e) => log.error({ err: e }, "http route failed"),
    ),
  });
  const server = new OnePortServer({
    handler,
    maxConcurrentStreams: 1000,
    headersTimeoutMs: 10_000,
    idleTimeoutMs: 5 * 60_000,
    maxHeaderBytes: 16 * 1024,
  });
  const address = await server.listen(config.port, config.host);
  const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;

  let closing: Promise<void> | undefined;
  return {
    port: address.port,
    url: `http://${shownHost}:${address.port}`,
    store,
    metrics,
    close: () =>
      (closing ??= (async () => {
        shuttingDown = true;
        // Ending watches first lets their trailers go out before connections are cut.
        const serverClosed = server.close(config.shutdownGraceMs);
        await store.close();
        await serverClosed;
      })()),
  };
}

function generatePassword(announce: (password: string) => void): string {
  const password = randomBytes(24).toString("base64url");
  announce(password);
  return password;
}
