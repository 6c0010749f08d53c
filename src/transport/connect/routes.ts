// Registers every Connect service on a router (the connect-es `routes(router)` pattern).

import type { ConnectRouter } from "@connectrpc/connect";
import { TokenService } from "../../../gen/es/tokenpool/v1/token_service_pb.js";
import type { Store } from "../../store/store.js";
import type { Limits } from "../limits.js";
import { tokenService, type StreamGate } from "./token-service.js";

/** Services that require the API password (health and reflection, added later, stay open). */
export const PROTECTED_SERVICES: ReadonlySet<string> = new Set([TokenService.typeName]);

export function routes(store: Store, limits: Limits, streams: StreamGate) {
  return (router: ConnectRouter): void => {
    router.service(TokenService, tokenService(store, limits, streams));
  };
}

/** Counts open streams against a fixed limit. */
export function streamGate(limit: number): StreamGate & { readonly open: () => number } {
  let open = 0;
  return {
    tryAcquire: () => (open < limit ? (open++, true) : false),
    release: () => void (open = Math.max(0, open - 1)),
    open: () => open,
  };
}
