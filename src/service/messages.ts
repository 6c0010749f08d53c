// Translates core values into the protobuf messages of tokenpool.v1 (and durations back into ms).

import type { MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs, durationMs, timestampFromMs, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { KeepAliveResult, Lease, LeaseEvent, LeaseEventType, PoolStats, TokenInfo } from "../core/types.js";
import {
  KeepAliveStatus,
  LeaseEventType as ProtoEventType,
  TokenState,
  type GetTokenResponseSchema,
  type KeepAliveResultSchema,
  type LeaseEventSchema,
  type LeaseSchema,
  type PoolSchema,
} from "../../gen/es/tokenpool/v1/token_service_pb.js";

const optionalTimestamp = (ms: number | undefined): Timestamp | undefined =>
  ms === undefined ? undefined : timestampFromMs(ms);

/** Milliseconds of an optional Duration; undefined when the field is unset. */
export const optionalMs = (d: Duration | undefined): number | undefined => (d === undefined ? undefined : durationMs(d));

export function poolMessage(p: PoolStats): MessageInitShape<typeof PoolSchema> {
  return {
    name: p.name,
    leaseTtl: durationFromMs(p.config.leaseTtlMs),
    idleTtl: durationFromMs(p.config.idleTtlMs),
    maxTokens: p.config.maxTokens,
    total: p.total,
    available: p.available,
    held: p.held,
    waiters: p.waiters,
    generation: BigInt(p.generation),
    sequence: BigInt(p.sequence),
  };
}

export function leaseMessage(l: Lease): MessageInitShape<typeof LeaseSchema> {
  return {
    pool: l.pool,
    token: l.token,
    owner: l.owner,
    generation: BigInt(l.generation),
    expireTime: timestampFromMs(l.expireTime),
    idleExpireTime: optionalTimestamp(l.idleExpireTime),
    leaseTtl: durationFromMs(l.leaseTtlMs),
  };
}

export function keepAliveResultMessage(r: KeepAliveResult): MessageInitShape<typeof KeepAliveResultSchema> {
  return {
    token: r.token,
    status: r.status === "ok" ? KeepAliveStatus.OK : KeepAliveStatus.NOT_FOUND,
    lease: r.lease && leaseMessage(r.lease),
    idleExpireTime: optionalTimestamp(r.idleExpireTime),
  };
}

export function tokenMessage(t: TokenInfo): MessageInitShape<typeof GetTokenResponseSchema> {
  return {
    pool: t.pool,
    token: t.token,
    state: t.state === "held" ? TokenState.HELD : TokenState.FREE,
    idleExpireTime: optionalTimestamp(t.idleExpireTime),
    lease: t.lease && leaseMessage(t.lease),
  };
}

const eventTypes: Record<LeaseEventType, ProtoEventType> = {
  GENERATED: ProtoEventType.GENERATED,
  ASSIGNED: ProtoEventType.ASSIGNED,
  RENEWED: ProtoEventType.RENEWED,
  RELEASED: ProtoEventType.RELEASED,
  LEASE_EXPIRED: ProtoEventType.LEASE_EXPIRED,
  IDLE_EXPIRED: ProtoEventType.IDLE_EXPIRED,
  DELETED: ProtoEventType.DELETED,
  WAITER_TIMED_OUT: ProtoEventType.WAITER_TIMED_OUT,
};

export const protoEventType = (t: LeaseEventType): ProtoEventType => eventTypes[t];

export function eventMessage(e: LeaseEvent): MessageInitShape<typeof LeaseEventSchema> {
  return {
    sequence: BigInt(e.sequence),
    type: eventTypes[e.type],
    pool: e.pool,
    token: e.token,
    owner: e.owner,
    generation: BigInt(e.generation),
    time: timestampFromMs(e.time),
    expireTime: optionalTimestamp(e.expireTime),
    idleExpireTime: optionalTimestamp(e.idleExpireTime),
  };
}
