// Holds a lease with grpc-js and the ts-proto stubs: assign, keep alive at a third of the TTL, watch
// the lease's own events (with an early LEASE_EXPIRING warning), release on SIGINT or after --seconds.
// Run: TOKENPOOL_URL=http://127.0.0.1:8080 TOKENPOOL_PASSWORD=… node --import tsx examples/grpc-js/hold-lease.ts --seconds 2

import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { parseArgs } from "node:util";
import {
  AssignTokenRequest,
  KeepAliveRequest,
  LeaseEventType,
  ReleaseTokenRequest,
  type AssignTokenResponse,
  type KeepAliveResponse,
  type ReleaseTokenResponse,
  TokenServiceClient,
  WatchLeasesRequest,
  type Lease,
} from "../../gen/ts-proto/tokenpool/v1/token_service.js";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "5" }, pool: { type: "string", default: "default" }, ttl: { type: "string", default: "3" } } });
const target = new URL(process.env.TOKENPOOL_URL ?? "http://127.0.0.1:8080").host;
const md = new Metadata();
md.set("x-api-password", process.env.TOKENPOOL_PASSWORD ?? "");
const client = new TokenServiceClient(target, credentials.createInsecure());
const owner = `hold-lease-${process.pid}`;
/** Turns a grpc-js callback into a promise. */
const settle = <T>(resolve: (v: T) => void, reject: (e: ServiceError) => void) => (e: ServiceError | null, r: T) => (e ? reject(e) : resolve(r));
const assign = (req: AssignTokenRequest) => new Promise<AssignTokenResponse>((ok, fail) => client.assignToken(req, md, settle(ok, fail)));
const keepAlive = (req: KeepAliveRequest) => new Promise<KeepAliveResponse>((ok, fail) => client.keepAlive(req, md, settle(ok, fail)));
const release = (req: ReleaseTokenRequest) => new Promise<ReleaseTokenResponse>((ok, fail) => client.releaseToken(req, md, settle(ok, fail)));

const { lease } = await assign(AssignTokenRequest.fromPartial({ pool: values.pool, owner, leaseTtl: { seconds: Number(values.ttl), nanos: 0 } }));
if (!lease) throw new Error("no lease");
const held: Lease = lease;
console.log(`holding ${held.token} (generation ${held.generation}) until ${held.expireTime?.toISOString()}`);

// Our own lease's events, with a warning when two thirds of the TTL passed unrenewed.
const watch = client.watchLeases(WatchLeasesRequest.fromPartial({ pool: values.pool, owner, expiringFraction: 0.66 }), md);
watch.on("data", (msg: { event?: { type: LeaseEventType; token: string } }) => {
  if (!msg.event || msg.event.token !== held.token) return;
  if (msg.event.type === LeaseEventType.LEASE_EVENT_TYPE_LEASE_EXPIRING) console.log("warning: lease about to expire");
  if (msg.event.type === LeaseEventType.LEASE_EVENT_TYPE_LEASE_EXPIRED) {
    console.log("lease expired: stop using the token");
    process.exitCode = 3;
    void stop();
  }
});
watch.on("error", (e: ServiceError) => {
  if (e.code !== status.CANCELLED) console.error("watch failed:", e.message);
});

const renew = setInterval(async () => {
  const { results } = await keepAlive(KeepAliveRequest.fromPartial({ pool: values.pool, tokens: [held.token] }));
  console.log(`renewed until ${results[0]?.lease?.expireTime?.toISOString()}`);
}, (Number(values.ttl) * 1000) / 3);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(renew);
  try {
    await release(ReleaseTokenRequest.fromPartial({ pool: values.pool, token: held.token, generation: held.generation, owner }));
    console.log("released");
  } catch (e) {
    console.log(`release failed: ${(e as ServiceError).details}`);
  }
  watch.cancel();
  client.close();
}
process.once("SIGINT", () => void stop());
setTimeout(() => void stop(), Number(values.seconds) * 1000);
