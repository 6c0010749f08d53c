// The CLI's commands, each a thin use of the client library: admin calls through `client.service`,
// assign through `client.acquire` (so the held lease is kept alive and proven like any other).

import { LeaseEventSchema, GetTokenResponseSchema, GenerateTokensResponseSchema, LeaseEventType, PoolSchema, TokenState, type Pool } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { msDuration } from "../client/timing.js";
import { LeaseLostError, type Lease, type TokenPoolClient } from "../client/node.js";
import { durationArg, intArg, UsageError, type Parsed } from "./args.js";
import { json, seconds, table, time } from "./format.js";

export interface Io {
  out(line: string): void;
  err(line: string): void;
  /** Aborts on Ctrl-C / SIGTERM. */
  readonly interrupted: AbortSignal;
}

/**
 * Aborts after `ms`. A plain timer, not AbortSignal.timeout(): inside AbortSignal.any() Node 20 can
 * collect that signal before it fires, and the command would never end.
 */
function abortAfter(ms: number | undefined, base: AbortSignal): AbortSignal {
  if (ms === undefined) return base;
  const c = new AbortController();
  const timer = setTimeout(() => c.abort(new Error(`--for ${ms} ms elapsed`)), ms);
  const stop = () => (clearTimeout(timer), c.abort(base.reason));
  if (base.aborted) stop();
  else base.addEventListener("abort", stop, { once: true });
  return c.signal;
}

type Command = (c: TokenPoolClient, p: Parsed, io: Io) => Promise<void>;

function arg(p: Parsed, index: number, name: string): string {
  const v = p.positionals[index];
  if (v === undefined || v === "") throw new UsageError(`missing ${name}`);
  return v;
}

const poolRow = (p: Pool) => ({
  name: p.name,
  total: String(p.total),
  available: String(p.available),
  held: String(p.held),
  waiters: String(p.waiters),
  "lease ttl": seconds(p.leaseTtl),
  "idle ttl": seconds(p.idleTtl),
  generation: String(p.generation),
  sequence: String(p.sequence),
});
const POOL_COLUMNS = ["name", "total", "available", "held", "waiters", "lease ttl", "idle ttl", "generation", "sequence"];

function printPools(p: Parsed, io: Io, pools: readonly Pool[]): void {
  if (p.json) for (const pool of pools) io.out(json(PoolSchema, pool));
  else io.out(table(pools.map(poolRow), POOL_COLUMNS));
}

function printLease(p: Parsed, io: Io, lease: Lease): void {
  const fields = { pool: lease.pool, token: lease.token, owner: lease.owner, generation: String(lease.generation), expireTime: lease.expireTime.toISOString() };
  io.out(p.json ? JSON.stringify(fields) : table([{ ...fields, expires: fields.expireTime }], ["pool", "token", "owner", "generation", "expires"]));
}

const pools: Record<string, Command> = {
  async ls(c, p, io) {
    const all: Pool[] = [];
    let pageToken = "";
    do {
      const res = await c.service.listPools({ pageSize: intArg("page-size", p.flags["page-size"]) ?? 100, pageToken });
      all.push(...res.pools);
      pageToken = res.nextPageToken;
    } while (pageToken !== "");
    printPools(p, io, all);
  },
  async create(c, p, io) {
    const ttl = durationArg("lease-ttl", p.flags["lease-ttl"]);
    const idle = durationArg("idle-ttl", p.flags["idle-ttl"]);
    const res = await c.service.createPool({
      name: arg(p, 2, "NAME"),
      leaseTtl: ttl === undefined ? undefined : msDuration(ttl),
      idleTtl: idle === undefined ? undefined : msDuration(idle),
      maxTokens: intArg("max-tokens", p.flags["max-tokens"]) ?? 0,
      initialTokens: intArg("tokens", p.flags.tokens) ?? 0,
    });
    printPools(p, io, res.pool ? [res.pool] : []);
  },
  async get(c, p, io) {
    const res = await c.service.getPool({ name: arg(p, 2, "NAME") });
    printPools(p, io, res.pool ? [res.pool] : []);
  },
  async rm(c, p, io) {
    const name = arg(p, 2, "NAME");
    await c.service.deletePool({ name });
    io.out(p.json ? JSON.stringify({ deleted: name }) : `deleted pool ${name}`);
  },
};

const tokens: Record<string, Command> = {
  async gen(c, p, io) {
    const ids = p.positionals.slice(3);
    const count = intArg("count", p.flags.count);
    if ((count === undefined) === (ids.length === 0)) throw new UsageError("give either --count N or token ids");
    const res = await c.service.generateTokens({ pool: arg(p, 2, "POOL"), count: count ?? 0, tokens: ids });
    if (p.json) io.out(json(GenerateTokensResponseSchema, res));
    else io.out(`${res.tokens.join("\n")}\n(${res.available} available)`);
  },
  async get(c, p, io) {
    const res = await c.service.getToken({ pool: arg(p, 2, "POOL"), token: arg(p, 3, "TOKEN") });
    if (p.json) return io.out(json(GetTokenResponseSchema, res));
    const state = res.state === TokenState.HELD ? "held" : "free";
    io.out(
      table(
        [{ token: res.token, state, owner: res.lease?.owner ?? "", generation: res.lease ? String(res.lease.generation) : "", expires: time(res.lease?.expireTime), "idle expires": time(res.idleExpireTime) }],
        ["token", "state", "owner", "generation", "expires", "idle expires"],
      ),
    );
  },
  async cordon(c, p, io) {
    const res = await c.service.cordonToken({ pool: arg(p, 2, "POOL"), token: arg(p, 3, "TOKEN") });
    io.out(p.json ? JSON.stringify({ cordoned: res.token?.token, held: res.token?.state === TokenState.HELD }) : `cordoned ${res.token?.token ?? ""}`);
  },
  async uncordon(c, p, io) {
    const res = await c.service.uncordonToken({ pool: arg(p, 2, "POOL"), token: arg(p, 3, "TOKEN") });
    io.out(p.json ? JSON.stringify({ uncordoned: res.token?.token }) : `uncordoned ${res.token?.token ?? ""}`);
  },
  drain,
  async rm(c, p, io) {
    const pool = arg(p, 2, "POOL");
    const token = arg(p, 3, "TOKEN");
    await c.service.deleteToken({ pool, token });
    io.out(p.json ? JSON.stringify({ deleted: token, pool }) : `deleted token ${token}`);
  },
};

/** Events after which a token is no longer held. */
const LEASE_ENDS = new Set([LeaseEventType.RELEASED, LeaseEventType.LEASE_EXPIRED, LeaseEventType.DELETED, LeaseEventType.IDLE_EXPIRED]);

/**
 * Drain = cordon, then wait until the token's lease ends (--wait bounds it; exit 1 if it is still
 * held then). The watch resumes from the pool's sequence read after the cordon, and the token is
 * checked once the watch position is fixed, so a release in between is never missed.
 */
async function drain(c: TokenPoolClient, p: Parsed, io: Io): Promise<void> {
  const pool = arg(p, 2, "POOL");
  const token = arg(p, 3, "TOKEN");
  const waitMs = durationArg("wait", p.flags.wait);
  await c.service.cordonToken({ pool, token });
  const from = (await c.service.getPool({ name: pool })).pool?.sequence ?? 0n;
  const done = (): void => io.out(p.json ? JSON.stringify({ drained: token, pool }) : `drained ${token}: cordoned and not held`);
  if ((await c.service.getToken({ pool, token })).state !== TokenState.HELD) return done();
  // Its own controller and timer, both ended on the way out: a drained token must not leave the
  // process waiting for the stream or for --wait to run out.
  const stop = new AbortController();
  const onInterrupt = (): void => stop.abort(io.interrupted.reason);
  io.interrupted.addEventListener("abort", onInterrupt, { once: true });
  const timer = waitMs === undefined ? undefined : setTimeout(() => stop.abort(new Error("--wait elapsed")), waitMs);
  let drained = false;
  try {
    for await (const e of c.watch(pool, { afterSequence: from, signal: stop.signal })) {
      if (e.token !== token || !LEASE_ENDS.has(e.type)) continue;
      drained = true;
      // Aborted before leaving the loop: ending a live stream's iterator would wait for the server.
      stop.abort();
      break;
    }
  } catch (e) {
    if (!stop.signal.aborted || io.interrupted.aborted) throw e;
  } finally {
    clearTimeout(timer);
    io.interrupted.removeEventListener("abort", onInterrupt);
    stop.abort();
  }
  if (drained) return done();
  throw new Error(`token ${token} is still held${waitMs === undefined ? "" : ` after --wait ${p.flags.wait}`}; it stays cordoned`);
}

async function assign(c: TokenPoolClient, p: Parsed, io: Io): Promise<void> {
  const holdMs = durationArg("for", p.flags.for);
  const lease = await c.acquire(arg(p, 1, "POOL"), {
    owner: typeof p.flags.owner === "string" ? p.flags.owner : `tokenpool-cli-${process.pid}`,
    leaseTtlMs: durationArg("ttl", p.flags.ttl),
    waitTimeoutMs: durationArg("wait", p.flags.wait),
    requestId: typeof p.flags["request-id"] === "string" ? p.flags["request-id"] : undefined,
    signal: io.interrupted,
  });
  printLease(p, io, lease);
  // Hold until Ctrl-C, --for, or the lease is lost (then say why and fail).
  const stop = abortAfter(holdMs, io.interrupted);
  await new Promise<void>((resolve) => {
    if (stop.aborted || lease.signal.aborted) return resolve();
    stop.addEventListener("abort", () => resolve(), { once: true });
    lease.signal.addEventListener("abort", () => resolve(), { once: true });
  });
  if (lease.signal.aborted) {
    const reason = lease.signal.reason;
    throw reason instanceof LeaseLostError ? reason : new Error(String(reason));
  }
  await lease.release();
  io.out(p.json ? JSON.stringify({ released: lease.token, generation: String(lease.generation) }) : `released ${lease.token} (generation ${lease.generation})`);
}

async function release(c: TokenPoolClient, p: Parsed, io: Io): Promise<void> {
  const pool = arg(p, 1, "POOL");
  const token = arg(p, 2, "TOKEN");
  const generation = p.flags.generation;
  if (generation !== undefined && (typeof generation !== "string" || !/^\d+$/.test(generation))) throw new UsageError("--generation: not a whole number");
  const res = await c.service.releaseToken({ pool, token, generation: generation ? BigInt(generation) : 0n, owner: typeof p.flags.owner === "string" ? p.flags.owner : "" });
  io.out(p.json ? JSON.stringify({ released: token, available: res.available }) : `released ${token} (${res.available} available)`);
}

async function watch(c: TokenPoolClient, p: Parsed, io: Io): Promise<void> {
  const after = p.flags.after;
  if (after !== undefined && (typeof after !== "string" || !/^\d+$/.test(after))) throw new UsageError("--after: not a whole number");
  const forMs = durationArg("for", p.flags.for);
  const events = c.watch(arg(p, 1, "POOL"), {
    afterSequence: after === undefined ? undefined : BigInt(after),
    signal: abortAfter(forMs, io.interrupted),
    onReconnect: (e) => io.err(`reconnecting: ${(e as Error).message}`),
  });
  for await (const e of events) {
    if (p.json) io.out(json(LeaseEventSchema, e));
    else io.out([String(e.sequence), time(e.time), (LeaseEventType[e.type] ?? String(e.type)).padEnd(16), e.token, e.owner, e.generation ? `gen ${e.generation}` : ""].join("  ").trimEnd());
  }
}

export function commandFor(p: Parsed): Command {
  const [group, sub] = p.positionals;
  if (group === "pools" || group === "tokens") {
    const table = group === "pools" ? pools : tokens;
    const cmd = sub === undefined ? undefined : table[sub];
    if (!cmd) throw new UsageError(`${group}: unknown subcommand ${sub ?? "(none)"}; one of ${Object.keys(table).join(", ")}`);
    return cmd;
  }
  const top: Record<string, Command> = { assign, release, watch };
  const cmd = group === undefined ? undefined : top[group];
  if (!cmd) throw new UsageError(group === undefined ? "no command" : `unknown command ${group}`);
  return cmd;
}
