// Request ids and per-request logging: every call keeps the caller's x-request-id (or gets a fresh
// one), echoes it in the response, and carries it into the lines logged for the call: one at debug
// level for every call, one at error level when the server itself failed (never one at info).

import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "../runtime/logger.js";
import { isUndecodableRequest } from "../transport/errors.js";
import type { CallObserver } from "../transport/grpc/call.js";
import type { HttpRoute } from "../transport/http/fallback.js";
import { REQUEST_ID_HEADER, requestIdOf } from "../service/request-id.js";
import { codeName, observeCall } from "./call-outcome.js";
import type { Metrics } from "./metrics.js";

export { REQUEST_ID_HEADER };

/** Codes that mean the server failed, not the caller or the pool rules: worth an error line. */
const SERVER_FAULTS: ReadonlySet<Code> = new Set([Code.Internal, Code.Unknown, Code.DataLoss]);

/** Outermost Connect interceptor: id in, id out (headers, or error metadata), a line per outcome. */
export function requestLogInterceptor(log: Logger): Interceptor {
  return (next) => async (req) => {
    const requestId = requestIdOf(req.header.get(REQUEST_ID_HEADER));
    const started = performance.now();
    const method = `${req.service.typeName}/${req.method.name}`;
    const ended = (code: string): void => {
      if (log.isLevelEnabled("debug")) log.debug({ method, code, ms: Math.round(performance.now() - started), requestId }, "rpc");
    };
    const failed = (e: unknown): ConnectError => {
      const error = ConnectError.from(e);
      error.metadata.set(REQUEST_ID_HEADER, requestId);
      // Once the call is aborted (client gone, deadline, shutdown) what fails is a consequence, not a fault.
      if (SERVER_FAULTS.has(error.code) && !isUndecodableRequest(error) && !req.signal.aborted) log.error({ err: e, method, code: Code[error.code], requestId }, "rpc failed");
      else ended(Code[error.code]);
      return error;
    };
    const res = await observeCall(() => next(req), { ok: () => ended("OK"), failed });
    res.header.set(REQUEST_ID_HEADER, requestId);
    return res;
  };
}

/**
 * Wraps plain HTTP routes (legacy API, docs, health, metrics): request id header, count and latency
 * by route and status once the response is sent, and the debug line.
 */
export function instrumentRoutes(routes: readonly HttpRoute[], metrics: Metrics, log: Logger): HttpRoute[] {
  return routes.map((route) => ({
    ...route,
    handle: (req, res, url) => {
      const header = req.headers[REQUEST_ID_HEADER];
      const requestId = requestIdOf(Array.isArray(header) ? header[0] : header);
      const started = performance.now();
      res.setHeader(REQUEST_ID_HEADER, requestId);
      res.once("finish", () => {
        const seconds = (performance.now() - started) / 1000;
        metrics.observeHttp(route.path, res.statusCode, seconds);
        if (log.isLevelEnabled("debug")) log.debug({ route: route.path, status: res.statusCode, ms: Math.round(seconds * 1000), requestId }, "http");
      });
      return route.handle(req, res, url);
    },
  }));
}

/**
 * The same policy for calls the grpc-js engine serves (no Connect interceptors there): the request
 * id, the count and latency by method and code, the debug line, and the error line for server faults.
 */
export function grpcCallObserver(log: Logger, metrics: Metrics): CallObserver {
  return {
    started(method, presented) {
      const requestId = requestIdOf(presented);
      const started = performance.now();
      return {
        requestId,
        ended(code, error) {
          const ms = performance.now() - started;
          metrics.observeRpc(method.name, codeName(code as Code | 0), ms / 1000);
          const undecodable = error instanceof ConnectError && isUndecodableRequest(error);
          if (SERVER_FAULTS.has(code) && !undecodable) log.error({ err: error, method: `${method.parent.typeName}/${method.name}`, code: Code[code], requestId }, "rpc failed");
          else if (log.isLevelEnabled("debug")) log.debug({ method: `${method.parent.typeName}/${method.name}`, code: code === 0 ? "OK" : Code[code], ms: Math.round(ms), requestId }, "rpc");
        },
      };
    },
  };
}
