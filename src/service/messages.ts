// Translates core values into the protobuf messages of tokenpool.v1. The messages are written as
// object literals of the generated types rather than through create(): protobuf-es messages are plain
// objects, and create()'s generic walk of a nested init cost 5x as much (93 vs 18 µs for a KeepAlive
// of 100 tokens, more than the store's own work). The generated types make every scalar field
// mandatory here, and a property test holds these messages equal to create()'s.

import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import type { KeepAliveResult, Lease, LeaseEvent, LeaseEventType, PoolStats, TokenInfo } from "../core/types.js";
import {
  KeepAliveStatus,
  LeaseEventType as ProtoEventType,
  TokenState,
  type GetTokenResponse,
  type KeepAliveResponse,
  type KeepAliveResult as KeepAliveResultMessage,
  type Lease as LeaseMessage,
  type LeaseEvent as LeaseEventMessage,
  type Pool,
  type Token,
} from "../../gen/es/tokenpool/v1/token_service_pb.js";

/** timestampFromMs of protobuf-es, without create(). */
export function timestamp(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  return { $typeName: "google.protobuf.Timestamp", seconds: BigInt(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}

const optionalTimestamp = (ms: number | undefined): Timestamp | undefined => (ms === undefined ? undefined : timestamp(ms));

/** durationFromMs of protobuf-es, without create(). */
export function duration(ms: number): Duration {
  const sign = ms < 0 ? -1 : 1;
  const abs = Math.abs(ms);
  const seconds = Math.floor(abs / 1000);
  const nanos = (abs - seconds * 1000) * 1_000_000;
  // A signed zero would not serialize: keep nanos a plain 0.
  return { $typeName: "google.protobuf.Duration", seconds: BigInt(seconds * sign), nanos: nanos === 0 ? 0 : nanos * sign };
}

export function poolMessage(p: PoolStats): Pool {
  return {
    $typeName: "tokenpool.v1.Pool",
    name: p.name,
    leaseTtl: duration(p.config.leaseTtlMs),
    idleTtl: duration(p.config.idleTtlMs),
    maxTokens: p.config.maxTokens,
    total: p.total,
    available: p.available,
    held: p.held,
    waiters: p.waiters,
    generation: BigInt(p.generation),
    sequence: BigInt(p.sequence),
    cordoned: p.cordoned,
    maxLeasesPerOwner: p.config.maxLeasesPerOwner,
  };
}

export function leaseMessage(l: Lease): LeaseMessage {
  return {
    $typeName: "tokenpool.v1.Lease",
    pool: l.pool,
    token: l.token,
    owner: l.owner,
    generation: BigInt(l.generation),
    expireTime: timestamp(l.expireTime),
    idleExpireTime: optionalTimestamp(l.idleExpireTime),
    leaseTtl: duration(l.leaseTtlMs),
  };
}

export function keepAliveResultMessage(r: KeepAliveResult): KeepAliveResultMessage {
  return {
    $typeName: "tokenpool.v1.KeepAliveResult",
    token: r.token,
    status: r.status === "ok" ? KeepAliveStatus.OK : KeepAliveStatus.NOT_FOUND,
    lease: r.lease && leaseMessage(r.lease),
    idleExpireTime: optionalTimestamp(r.idleExpireTime),
  };
}

/** The KeepAliveResponse of the store's records. */
export function keepAliveResponseMessage(results: readonly KeepAliveResult[]): KeepAliveResponse {
  return { $typeName: "tokenpool.v1.KeepAliveResponse", results: results.map(keepAliveResultMessage) };
}

export function tokenMessage(t: TokenInfo): GetTokenResponse {
  return {
    $typeName: "tokenpool.v1.GetTokenResponse",
    pool: t.pool,
    token: t.token,
    state: t.state === "held" ? TokenState.HELD : TokenState.FREE,
    idleExpireTime: optionalTimestamp(t.idleExpireTime),
    lease: t.lease && leaseMessage(t.lease),
    cordoned: t.cordoned,
  };
}

export function listedTokenMessage(t: TokenInfo): Token {
  return {
    $typeName: "tokenpool.v1.Token",
    token: t.token,
    state: t.state === "held" ? TokenState.HELD : TokenState.FREE,
    cordoned: t.cordoned,
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
  TOKEN_CORDONED: ProtoEventType.TOKEN_CORDONED,
  TOKEN_UNCORDONED: ProtoEventType.TOKEN_UNCORDONED,
};

export const protoEventType = (t: LeaseEventType): ProtoEventType => eventTypes[t];

export function eventMessage(e: LeaseEvent): LeaseEventMessage {
  return {
    $typeName: "tokenpool.v1.LeaseEvent",
    sequence: BigInt(e.sequence),
    type: eventTypes[e.type],
    pool: e.pool,
    token: e.token,
    owner: e.owner,
    generation: BigInt(e.generation),
    time: timestamp(e.time),
    expireTime: optionalTimestamp(e.expireTime),
    idleExpireTime: optionalTimestamp(e.idleExpireTime),
  };
}
