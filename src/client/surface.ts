// What both entry points of tokenpool/client export besides createTokenPoolClient, so the Node and
// the browser builds can never drift apart in their types, errors or enums.

export type { AcquireOptions, TokenPoolClient, TokenPoolClientOptions } from "./client.js";
export type { Lease } from "./lease.js";
export type { WatchOptions } from "./watch.js";
export type { Protocol } from "./platform.js";
export { describeError, LeaseLostError, SequenceCompactedError, UnsupportedProtocolError, type ErrorDescription, type LeaseLostKind } from "./errors.js";
export { SERVER_BATCH_LIMIT } from "./keep-alive.js";
export { LeaseEventType, KeepAliveStatus, TokenState, type LeaseEvent, type Pool } from "../../gen/es/tokenpool/v1/token_service_pb.js";
