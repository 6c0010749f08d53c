// grpc.health.v1.Health (Check, Watch, List), unauthenticated like /readyz: SERVING while the
// store is reachable and the server is not shutting down.

import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { abortableSleep } from "./abortable-sleep.js";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../../gen/es/grpc/health/v1/health_pb.js";

/** How often Watch re-checks readiness that changes without an event (a store reconnecting). */
const WATCH_POLL_MS = 1000;

export function healthService(serviceNames: readonly string[], notReadyReason: () => string | undefined): ServiceImpl<typeof Health> {
  const known = new Set(["", ...serviceNames]);
  const status = (service: string): Status =>
    !known.has(service) ? Status.SERVICE_UNKNOWN : notReadyReason() === undefined ? Status.SERVING : Status.NOT_SERVING;
  return {
    async check(req) {
      if (!known.has(req.service)) throw new ConnectError(`unknown service "${req.service}"`, Code.NotFound);
      return { status: status(req.service) };
    },
    async *watch(req, ctx) {
      // Send the current status, then every change, until the client goes away.
      let last: Status | undefined;
      while (!ctx.signal.aborted) {
        const now = status(req.service);
        if (now !== last) {
          last = now;
          yield { status: now };
        }
        await abortableSleep(WATCH_POLL_MS, ctx.signal);
      }
    },
    async list() {
      const statuses: Record<string, { status: Status }> = {};
      for (const name of known) statuses[name] = { status: status(name) };
      return { statuses };
    },
  };
}
