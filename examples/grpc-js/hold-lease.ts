// Holds a lease with grpc-js and the ts-proto stubs: assign, keep alive at a third of the TTL, watch
// the lease's own events, release on SIGINT or after --seconds; exits 3 if the lease is lost first.
// Run: TOKENPOOL_URL=http://127.0.0.1:8080 TOKENPOOL_PASSWORD=… node --import tsx examples/grpc-js/hold-lease.ts --seconds 10

import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { parseArgs } from "node:util";
import {
  AssignTokenRequest,
  GetPoolRequest,
  KeepAliveRequest,
  KeepAliveStatus,
  LeaseEventType,
  ReleaseTokenRequest,
  TokenServiceClient,
  WatchLeasesRequest,
  type AssignTokenResponse,
  type GetPoolResponse,
  type KeepAliveResponse,
  type ReleaseTokenResponse,
  type WatchLeasesResponse,
} from "../../gen/ts-proto/tokenpool/v1/token_service.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    pool: { type: "string", default: "default" },
    ttl: { type: "string", default: "3" },
  },
});
const ttlSeconds = Number(values.ttl);
const target = new URL(process.env.TOKENPOOL_URL ?? "http://127.0.0.1:8080").host;
const md = new Metadata();
md.set("x-api-password", process.env.TOKENPOOL_PASSWORD ?? "");
const client = new TokenServiceClient(target, credentials.createInsecure());
const owner = `hold-lease-${process.pid}`;

/** Turns a grpc-js callback into a promise. */
const settle = <T>(resolve: (v: T) => void, reject: (e: ServiceError) => void) => (e: ServiceError | null, r: T) => (e ? reject(e) : resolve(r));
const getPool = (req: GetPoolRequest) => new Promise<GetPoolResponse>((ok, fail) => client.getPool(req, md, settle(ok, fail)));
const assign = (req: AssignTokenRequest) => new Promise<AssignTokenResponse>((ok, fail) => client.assignToken(req, md, settle(ok, fail)));
const keepAlive = (req: KeepAliveRequest) => new Promise<KeepAliveResponse>((ok, fail) => client.keepAlive(req, md, settle(ok, fail)));
const release = (req: ReleaseTokenRequest) => new Promise<ReleaseTokenResponse>((ok, fail) => client.releaseToken(req, md, settle(ok, fail)));

// The pool's event sequence before we assign: the watch replays from there, so no event of our
// lease can fall between the assignment and the watch starting.
const since = (await getPool(GetPoolRequest.fromPartial({ name: values.pool }))).pool?.sequence ?? 0;
const { lease } = await assign(AssignTokenRequest.fromPartial({ pool: values.pool, owner, leaseTtl: { seconds: ttlSeconds, nanos: 0 } }));
if (!lease) throw new Error("AssignToken returned no lease");
const { token, generation } = lease;

// Events of our own leases; a warning once two thirds of the TTL pass without a renewal.
const watch = client.watchLeases(WatchLeasesRequest.fromPartial({ pool: values.pool, owner, afterSequence: since, expiringFraction: 0.66 }), md);
watch.on("data", ({ event }: WatchLeasesResponse) => {
  // The generation tells this lease apart from an older or later lease of the same token.
  if (!event || event.token !== token || event.generation !== generation) return;
  switch (event.type) {
    case LeaseEventType.LEASE_EVENT_TYPE_LEASE_EXPIRING:
      console.log("warning: lease about to expire");
      break;
    case LeaseEventType.LEASE_EVENT_TYPE_LEASE_EXPIRED:
      lost("it expired");
      break;
    case LeaseEventType.LEASE_EVENT_TYPE_RELEASED:
      if (!releasing) lost("released by someone else");
      break;
    case LeaseEventType.LEASE_EVENT_TYPE_DELETED:
      lost("the token was deleted");
      break;
  }
});
watch.on("error", (e: ServiceError) => {
  if (e.code !== status.CANCELLED) console.error(`watch failed: ${e.details}`);
});

const renew = setInterval(() => {
  keepAlive(KeepAliveRequest.fromPartial({ pool: values.pool, tokens: [token] })).then(
    ({ results: [result] }) => {
      if (result?.status === KeepAliveStatus.KEEP_ALIVE_STATUS_OK && result.lease?.generation === generation) {
        console.log(`renewed until ${result.lease.expireTime?.toISOString()}`);
      } else {
        lost("keep-alive found no lease of ours");
      }
    },
    // One failed keep-alive is not fatal: the lease outlives two more attempts.
    (e: ServiceError) => console.error(`keep-alive failed: ${e.details}`),
  );
}, (ttlSeconds * 1000) / 3);

let releasing = false;
let stopped = false;

/** The lease is gone: stop using the token, and don't release what we no longer hold. */
function lost(why: string): void {
  if (stopped) return;
  console.log(`lost the lease: ${why}; stop using ${token}`);
  process.exitCode = 3;
  shutdown();
}

async function stop(): Promise<void> {
  if (stopped || releasing) return;
  releasing = true;
  clearInterval(renew);
  try {
    // Fencing: generation and owner make a stale release fail instead of freeing someone else's lease.
    await release(ReleaseTokenRequest.fromPartial({ pool: values.pool, token, generation, owner }));
    console.log("released");
  } catch (e) {
    console.log(`release failed: ${(e as ServiceError).details}`);
    process.exitCode = 1;
  }
  shutdown();
}

function shutdown(): void {
  stopped = true;
  clearInterval(renew);
  clearTimeout(deadline);
  watch.cancel();
  client.close();
}

process.once("SIGINT", () => void stop());
const deadline = setTimeout(() => void stop(), Number(values.seconds) * 1000);
// Printed once SIGINT is handled, so whoever reads it may interrupt us.
console.log(`holding ${token} (generation ${generation}) until ${lease.expireTime?.toISOString()}`);
