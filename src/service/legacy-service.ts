// The old Python service's three operations (issue, recycle, count) on one pool, transport-neutral:
// the legacy auth rule (X-API-PASSWORD only, as the old service had), leases on the store's recycle
// queue so any replica can recycle them, and which failures count as "nothing to recycle". The HTTP
// routes (transport/legacy) only turn these results into the old status codes and bodies.

import { err, ok, type Result } from "../core/types.js";
import type { Store } from "../store/store.js";
import { presentedCredential, type AuthFailure, type PasswordCheck } from "./auth.js";
import type { CallContext } from "./call.js";
import type { ServiceError } from "./service-error.js";

export const LEGACY_OWNER = "legacy";

export type LegacyRoute = "/issue_token" | "/recycle_token" | "/tokens";

export interface LegacyServiceApi {
  /** Leases a free token to the legacy owner with the legacy TTL; POOL_EXHAUSTED when none is free. */
  issue(call: CallContext): Promise<Result<{ readonly available: number }, ServiceError>>;
  /**
   * Releases the named token if a legacy client holds it, or else (no name) the oldest legacy lease
   * still held, whichever replica issued it. `recycled` is false when there was nothing to release.
   */
  recycle(token: string | undefined, call: CallContext): Promise<Result<{ readonly recycled: boolean; readonly available: number }, ServiceError>>;
  /** Free tokens now. */
  available(call: CallContext): Promise<Result<number, ServiceError>>;
}

export interface LegacyServiceDeps {
  readonly store: Store;
  readonly pool: string;
  readonly leaseTtlMs: number;
  readonly check: PasswordCheck;
  readonly onAuthFailure?: (failure: Omit<AuthFailure, "protocol">) => void;
}

export function createLegacyService(deps: LegacyServiceDeps): LegacyServiceApi {
  const { store, pool, check } = deps;

  /** The old service knew only X-API-PASSWORD; a bearer token is not accepted here. */
  const refused = (route: LegacyRoute, call: CallContext): ServiceError | undefined => {
    if (check.matches(call.header("x-api-password") ?? undefined)) return undefined;
    deps.onAuthFailure?.({ route, presented: presentedCredential(call.header), peer: call.peer });
    return { code: "UNAUTHENTICATED" };
  };
  const available = async (): Promise<Result<number, ServiceError>> => {
    const stats = await store.getPool(pool);
    return stats.ok ? ok(stats.value.available) : stats;
  };
  /** Storage failures are errors; any other refusal (not held, not a legacy lease) means "nothing recycled". */
  const released = (r: Result<unknown, ServiceError>, wasReleased: boolean): Result<boolean, ServiceError> => {
    if (r.ok) return ok(wasReleased);
    return r.error.code === "UNAVAILABLE" ? r : ok(false);
  };

  return {
    async issue(call) {
      const denied = refused("/issue_token", call);
      if (denied) return err(denied);
      const r = await store.assign(pool, LEGACY_OWNER, { leaseTtlMs: deps.leaseTtlMs, recyclable: true });
      return r.ok ? ok({ available: r.value.available }) : r;
    },

    async recycle(token, call) {
      const denied = refused("/recycle_token", call);
      if (denied) return err(denied);
      let recycled: Result<boolean, ServiceError>;
      if (token !== undefined) {
        recycled = released(await store.release(pool, token, { owner: LEGACY_OWNER }), true);
      } else {
        const r = await store.releaseOldestRecyclable(pool);
        recycled = released(r, r.ok && r.value.released !== undefined);
      }
      if (!recycled.ok) return recycled;
      const count = await available();
      return count.ok ? ok({ recycled: recycled.value, available: count.value }) : count;
    },

    async available(call) {
      const denied = refused("/tokens", call);
      if (denied) return err(denied);
      return available();
    },
  };
}
