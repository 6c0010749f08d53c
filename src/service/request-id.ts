// The request-id policy every protocol follows: a caller's x-request-id is kept when it is safe to echo
// and log, otherwise the call gets a fresh one.

import { randomUUID } from "node:crypto";

export const REQUEST_ID_HEADER = "x-request-id";

/** A caller's id is kept when it is short printable ASCII (it goes into headers and logs as is). */
const ACCEPTED_ID = /^[\x21-\x7e]{1,128}$/;

export function requestIdOf(presented: string | null | undefined): string {
  return presented != null && ACCEPTED_ID.test(presented) ? presented : randomUUID();
}
