// tokenpool/client: the public surface of the client library (see docs/CLIENTS.md).

export { createTokenPoolClient, type AcquireOptions, type TokenPoolClient, type TokenPoolClientOptions } from "./client.js";
export type { Lease } from "./lease.js";
export type { WatchOptions } from "./watch.js";
export type { Protocol } from "./transport.js";
export { describeError, LeaseLostError, SequenceCompactedError, type ErrorDescription, type LeaseLostKind } from "./errors.js";
export { SERVER_BATCH_LIMIT } from "./keep-alive.js";
export { LeaseEventType, KeepAliveStatus, TokenState, type LeaseEvent, type Pool } from "../../gen/es/tokenpool/v1/token_service_pb.js";
