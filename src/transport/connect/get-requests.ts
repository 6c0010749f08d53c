// Checks Connect GET requests (idempotent RPCs: ?encoding=…&base64=1&message=…) before connect-es
// reads them: it decodes the base64 message outside its error handling, so a malformed one came back
// as INTERNAL "internal error" instead of the client's INVALID_ARGUMENT.

import type { HandlerContext } from "@connectrpc/connect";
import { base64Decode } from "@bufbuild/protobuf/wire";
import { protocolError } from "../errors.js";

/** A connect-es request gate: throws for a GET whose `message` parameter is not valid base64. */
export function checkGetRequest(context: HandlerContext): void {
  if (context.requestMethod !== "GET") return;
  const query = new URL(context.url).searchParams;
  if (query.get("base64") !== "1") return;
  try {
    base64Decode(query.get("message") ?? "");
  } catch {
    throw protocolError("protocol error: the message query parameter is not valid base64");
  }
}
