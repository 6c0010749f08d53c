// Every failure a TokenService operation can return, as a value: the store's, a watch's end, and the
// service's own (stream limit, credentials). Transports turn them into wire errors through the one
// table in transport/errors.ts; nothing here knows a status code.

import type { WatchEnd } from "../runtime/event-hub.js";
import type { StoreError } from "../store/store.js";
import type { Invalid } from "../core/validate.js";

/** Errors the service itself decides (limits, auth), beside the store's. */
export type CallError =
  | { readonly code: "TOO_MANY_STREAMS"; readonly limit: number }
  | { readonly code: "UNAUTHENTICATED" };

export type ServiceError = StoreError | WatchEnd | CallError;

export const invalid = (field: string, message: string): Invalid => ({ code: "INVALID_ARGUMENT", field, message });
