// The typed client process-level tests, benches and the soak drive: connect-es over gRPC (HTTP/2) or
// Connect binary (HTTP/2), authenticated, with the wire's Timestamp/Duration/uint64 fields turned into
// plain milliseconds and numbers.

import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { TokenService, type Lease as WireLease } from "../../gen/es/tokenpool/v1/token_service_pb.js";

export type TokenClient = Client<typeof TokenService>;

export interface PlainLease {
  readonly token: string;
  readonly owner: string;
  readonly generation: number;
  readonly expireMs: number;
  readonly ttlMs: number;
}

export function tokenClient(baseUrl: string, password: string, protocol: "grpc" | "connect" = "grpc"): TokenClient {
  const auth: Interceptor = (next) => (req) => {
    req.header.set("x-api-password", password);
    return next(req);
  };
  const interceptors = [auth];
  return createClient(
    TokenService,
    protocol === "grpc"
      ? createGrpcTransport({ baseUrl, interceptors })
      : createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true, interceptors }),
  );
}

export const ms = (t: Timestamp | undefined): number => (t ? Number(t.seconds) * 1000 + Math.round(t.nanos / 1e6) : NaN);
export const durationMs = (d: Duration | undefined): number => (d ? Number(d.seconds) * 1000 + Math.round(d.nanos / 1e6) : NaN);
export const duration = (msValue: number): { seconds: bigint; nanos: number } => ({
  seconds: BigInt(Math.floor(msValue / 1000)),
  nanos: (msValue % 1000) * 1e6,
});

export function plainLease(lease: WireLease | undefined): PlainLease {
  if (!lease) throw new Error("response without a lease");
  return {
    token: lease.token,
    owner: lease.owner,
    generation: Number(lease.generation),
    expireMs: ms(lease.expireTime),
    ttlMs: durationMs(lease.leaseTtl),
  };
}

/** The Connect code of a failed call (Unknown for anything that is not a ConnectError). */
export function codeOf(e: unknown): Code {
  return e instanceof ConnectError ? e.code : Code.Unknown;
}
