// KeepAlive's answer on connect-node: the response message the interceptors see, with the store's
// records it was built from kept beside it, so that KeepAlive's own Connect handler
// (keep-alive-route.ts) can write those records straight to the wire instead of the message.

import type { KeepAliveResponse } from "../../../gen/es/tokenpool/v1/token_service_pb.js";
import type { KeepAliveResult } from "../../core/types.js";
import { keepAliveResponseMessage } from "../../service/messages.js";

// Keyed by the message object: connect-es hands the implementation's message through the interceptors
// as is (create() returns a message of the right type unchanged), so the handler finds it again by
// identity. A message an interceptor built instead has no entry, and is serialized by protobuf-es.
// (An interceptor editing the message in place would go unseen: ours only read headers and codes.)
const recordsByMessage = new WeakMap<object, readonly KeepAliveResult[]>();

/** The KeepAliveResponse of these records, remembered as built from them. */
export function keepAliveAnswer(results: readonly KeepAliveResult[]): KeepAliveResponse {
  const message = keepAliveResponseMessage(results);
  recordsByMessage.set(message, results);
  return message;
}

/** The records `message` was built from by keepAliveAnswer; undefined for any other message. */
export function keepAliveRecords(message: object): readonly KeepAliveResult[] | undefined {
  return recordsByMessage.get(message);
}
