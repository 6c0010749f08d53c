// The soak's mixed load: lease holders over three protocols (assign, keep-alive, release, leases left
// to expire, idempotent retries, fencing checks, blocking assigns on a small pool), legacy HTTP
// clients, and watchers that replay every event through a PoolTracker: some for the whole run, one
// that keeps disconnecting and resuming by sequence, and short-lived ones opened and dropped.

import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import { Code, ConnectError, createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { KeepAliveStatus, LeaseEventType, TokenService } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { duration } from "../harness/token-client.js";
import { PoolTracker } from "./tracker.js";
import { sleep } from "../harness/sleep.js";

export type TokenClient = Client<typeof TokenService>;
type Protocol = "grpc" | "connect-json" | "grpc-web";

/** The soak's pools: a roomy one and a tight one where assigns wait and sometimes find none free. */
export const POOLS = {
  roomy: { name: "soak-a", tokens: 64, leaseTtlMs: 2_000 },
  tight: { name: "soak-b", tokens: 8, leaseTtlMs: 1_500 },
} as const;

/** Outcomes each operation may legitimately have; anything else fails the run. */
const EXPECTED: Record<string, readonly string[]> = {
  assign: ["ok", "not_found"], // not_found: POOL_EXHAUSTED, at once or after wait_timeout
  "assign retry": ["ok"],
  "keep-alive": ["ok"],
  // A lease the holder kept alive is still its own, unless the server was too starved to see the
  // keep-alive in time: then NOT_HELD / LEASE_MISMATCH, counted and shown.
  release: ["ok", "failed_precondition"],
  "release, wrong generation": ["failed_precondition"],
  "abandon (left to expire)": ["ok"],
  // Streams end when the client drops them ("dropped"); any code from the server is a failure.
  watch: ["ok", "dropped"],
  "legacy /issue_token": ["200", "429"],
  "legacy /recycle_token": ["200", "400"],
  "legacy /tokens": ["200"],
};

export class Tally {
  /** operation → outcome → count */
  readonly counts: Record<string, Record<string, number>> = {};
  unexpected = 0;
  readonly firstUnexpected: string[] = [];

  count(op: string, outcome: string, detail = ""): void {
    const row = (this.counts[op] ??= {});
    row[outcome] = (row[outcome] ?? 0) + 1;
    if (!(EXPECTED[op] ?? []).includes(outcome)) {
      this.unexpected++;
      if (this.firstUnexpected.length < 20) this.firstUnexpected.push(`${op}: ${outcome}${detail ? ` (${detail})` : ""}`);
    }
  }

  total(): number {
    return Object.values(this.counts).reduce((n, row) => n + Object.values(row).reduce((a, b) => a + b, 0), 0);
  }

  /** Every outcome other than ok/200, summed over operations. */
  byOutcome(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const row of Object.values(this.counts)) for (const [k, n] of Object.entries(row)) out[k] = (out[k] ?? 0) + n;
    return out;
  }
}

/** Connect code name in the server's metric spelling ("not_found"); "client:<msg>" for anything else. */
export function outcomeOf(e: unknown): string {
  if (e instanceof ConnectError) return Code[e.code].replace(/[A-Z]/g, (c, i: number) => (i ? "_" : "") + c.toLowerCase());
  return `client:${String(e).slice(0, 60)}`;
}

export function client(baseUrl: string, password: string, protocol: Protocol): TokenClient {
  const auth: Interceptor = (next) => (req) => {
    req.header.set("x-api-password", password);
    return next(req);
  };
  const transport: Transport =
    protocol === "grpc"
      ? createGrpcTransport({ baseUrl, interceptors: [auth] })
      : protocol === "grpc-web"
        ? createGrpcWebTransport({ baseUrl, httpVersion: "1.1", interceptors: [auth] })
        : createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false, interceptors: [auth] });
  return createClient(TokenService, transport);
}

export interface LoadOptions {
  readonly baseUrl: string;
  readonly password: string;
  readonly workers: number;
  readonly thinkMs: number;
}

export interface Load {
  readonly tally: Tally;
  /** The whole-run watchers' replays, by pool. */
  readonly trackers: ReadonlyMap<string, PoolTracker>;
  /** Every tracker, including the resuming watcher's. */
  readonly allTrackers: readonly PoolTracker[];
  readonly watch: { resumes: number; churned: number; events: () => number };
  /** Stops every client but the whole-run watchers; resolves when they have all returned. */
  stopTraffic(): Promise<void>;
  /** Then the whole-run watchers, once the final check has seen them catch up. */
  stopWatchers(): Promise<void>;
}

const between = (lo: number, hi: number): number => lo + Math.random() * (hi - lo);

export async function createPools(c: TokenClient): Promise<void> {
  for (const p of Object.values(POOLS)) {
    await c.createPool({ name: p.name, leaseTtl: duration(p.leaseTtlMs), idleTtl: duration(0), maxTokens: 1000, initialTokens: p.tokens });
  }
}

/** Starts the watchers (and waits until each is streaming), then the holders and legacy clients. */
export async function startLoad(options: LoadOptions): Promise<Load> {
  const { baseUrl, password } = options;
  const tally = new Tally();
  const trafficAbort = new AbortController();
  const watchersAbort = new AbortController();
  // Every worker's sleep listens on these at once (and removes its listener after), so more than
  // Node's default 10 listeners is expected, not a leak.
  setMaxListeners(0, trafficAbort.signal, watchersAbort.signal);
  const stop = trafficAbort.signal;
  const trackers = new Map<string, PoolTracker>();
  const allTrackers: PoolTracker[] = [];
  const watch = { resumes: 0, churned: 0, events: () => allTrackers.reduce((n, t) => n + t.events, 0) };
  const tasks: Promise<void>[] = [];
  const watcherTasks: Promise<void>[] = [];

  /** Streams `pool` into `tracker` until `signal`; resolves once the first heartbeat proves it open. */
  const follow = (c: TokenClient, pool: string, tracker: PoolTracker, signal: AbortSignal, afterSequence = 0n): { open: Promise<void>; done: Promise<void> } => {
    let opened: () => void = () => undefined;
    const open = new Promise<void>((r) => (opened = r));
    const done = (async () => {
      try {
        for await (const m of c.watchLeases({ pool, afterSequence, heartbeatInterval: duration(1_000) }, { signal })) {
          opened();
          if (m.kind.case === "event") tracker.apply(m.kind.value);
        }
        tally.count("watch", "ok");
      } catch (e) {
        tally.count("watch", signal.aborted ? "dropped" : outcomeOf(e), signal.aborted ? "" : String(e));
      } finally {
        opened();
      }
    })();
    return { open, done };
  };

  // Whole-run watchers, one per pool, on different protocols.
  const opening: Promise<void>[] = [];
  for (const [pool, protocol] of [[POOLS.roomy.name, "grpc"], [POOLS.tight.name, "connect-json"]] as const) {
    const tracker = new PoolTracker(pool);
    trackers.set(pool, tracker);
    allTrackers.push(tracker);
    const w = follow(client(baseUrl, password, protocol), pool, tracker, watchersAbort.signal);
    opening.push(w.open);
    watcherTasks.push(w.done);
  }
  // A watcher that drops its stream every few seconds and resumes from the last sequence it saw.
  const resuming = new PoolTracker(POOLS.roomy.name);
  allTrackers.push(resuming);
  tasks.push(
    (async () => {
      const c = client(baseUrl, password, "grpc");
      while (!stop.aborted) {
        const round = new AbortController();
        const onStop = (): void => round.abort();
        stop.addEventListener("abort", onStop, { once: true });
        const w = follow(c, POOLS.roomy.name, resuming, round.signal, resuming.lastSequence ?? 0n);
        if (resuming.lastSequence === undefined) opening.push(w.open);
        await sleep(between(2_000, 6_000), stop);
        round.abort();
        await w.done;
        stop.removeEventListener("abort", onStop);
        if (!stop.aborted) watch.resumes++;
      }
    })(),
  );
  // Short-lived watchers: filtered, with expiry warnings, opened and dropped (stream setup and teardown).
  tasks.push(
    (async () => {
      const c = client(baseUrl, password, "connect-json");
      while (!stop.aborted) {
        // Not AbortSignal.any([stop, AbortSignal.timeout(...)]): on Node 20 the round's timeout did not
        // reliably fire (a 10-minute run made 20 rounds, not ~600), and each round left a listener on `stop`.
        const drop = new AbortController();
        const round = drop.signal;
        const onStop = (): void => drop.abort();
        stop.addEventListener("abort", onStop, { once: true });
        const timer = setTimeout(onStop, between(300, 1_500));
        try {
          for await (const _ of c.watchLeases(
            { pool: POOLS.tight.name, owner: "soak-w2", expiringFraction: 0.5, types: [LeaseEventType.ASSIGNED, LeaseEventType.RELEASED] },
            { signal: round },
          )) {
            // Only the stream's life matters here.
          }
          tally.count("watch", "ok");
        } catch (e) {
          tally.count("watch", round.aborted ? "dropped" : outcomeOf(e), round.aborted ? "" : String(e));
        } finally {
          clearTimeout(timer);
          stop.removeEventListener("abort", onStop);
        }
        watch.churned++;
        await sleep(between(50, 300), stop);
      }
    })(),
  );
  await Promise.all(opening);

  const protocols: readonly Protocol[] = ["grpc", "connect-json", "grpc-web"];
  const clients = new Map(protocols.map((p) => [p, client(baseUrl, password, p)]));
  for (let w = 0; w < options.workers; w++) {
    const protocol = protocols[w % protocols.length]!;
    // A third of the holders work the tight pool, where they wait for tokens and sometimes go without.
    const tight = w % 3 === 2;
    tasks.push(holder(clients.get(protocol)!, tight ? POOLS.tight.name : POOLS.roomy.name, `soak-w${w}`, tight ? 300 : 0));
  }
  tasks.push(legacy());

  return {
    tally,
    trackers,
    allTrackers,
    watch,
    async stopTraffic() {
      trafficAbort.abort();
      await Promise.all(tasks);
    },
    async stopWatchers() {
      watchersAbort.abort();
      await Promise.all(watcherTasks);
    },
  };

  async function holder(c: TokenClient, pool: string, owner: string, waitMs: number): Promise<void> {
    while (!stop.aborted) {
      const requestId = Math.random() < 0.2 ? randomUUID() : "";
      const ask = { pool, owner, requestId, ...(waitMs > 0 && { waitTimeout: duration(waitMs) }) };
      let token: string;
      let generation: bigint;
      try {
        const { lease } = await c.assignToken(ask);
        if (!lease) throw new Error("assign without a lease");
        ({ token, generation } = lease);
        tally.count("assign", "ok");
      } catch (e) {
        tally.count("assign", outcomeOf(e), String(e));
        await sleep(options.thinkMs, stop);
        continue;
      }
      if (requestId) {
        // A retry with the same request id is the same assignment, not a second token.
        try {
          const { lease } = await c.assignToken(ask);
          tally.count("assign retry", lease?.token === token && lease.generation === generation ? "ok" : "different lease", `${token}/${generation} then ${lease?.token}/${lease?.generation}`);
        } catch (e) {
          tally.count("assign retry", outcomeOf(e), String(e));
        }
      }
      const roll = Math.random();
      if (roll < 0.1) {
        tally.count("abandon (left to expire)", "ok");
      } else {
        if (roll < 0.15) {
          try {
            await c.releaseToken({ pool, token, generation: generation + 1n, owner });
            tally.count("release, wrong generation", "ok");
          } catch (e) {
            tally.count("release, wrong generation", outcomeOf(e), String(e));
          }
        }
        for (let k = Math.floor(between(0, 4)); k > 0 && !stop.aborted; k--) {
          await sleep(between(20, 150), stop);
          try {
            const { results } = await c.keepAlive({ pool, tokens: [token] });
            const r = results[0];
            const kept = r?.status === KeepAliveStatus.OK && r.lease?.generation === generation;
            tally.count("keep-alive", kept ? "ok" : "lease lost", JSON.stringify({ status: r?.status, gen: String(r?.lease?.generation) }));
          } catch (e) {
            tally.count("keep-alive", outcomeOf(e), String(e));
          }
        }
        try {
          await c.releaseToken({ pool, token, generation, owner });
          tally.count("release", "ok");
        } catch (e) {
          tally.count("release", outcomeOf(e), String(e));
        }
      }
      await sleep(options.thinkMs, stop);
    }
  }

  async function legacy(): Promise<void> {
    const headers = { "x-api-password": password };
    const get = async (route: string): Promise<number> => {
      try {
        const res = await fetch(`${baseUrl}${route}`, { headers });
        await res.arrayBuffer();
        tally.count(`legacy ${route.split("?")[0]}`, String(res.status));
        return res.status;
      } catch (e) {
        tally.count(`legacy ${route.split("?")[0]}`, outcomeOf(e), String(e));
        return 0;
      }
    };
    while (!stop.aborted) {
      const issued = (await get("/issue_token?info=soak")) === 200;
      await get("/tokens");
      // Half the legacy leases are recycled, the rest run out their TIMER_DURATION.
      if (issued && Math.random() < 0.5) await get("/recycle_token");
      await sleep(Math.max(options.thinkMs, 20), stop);
    }
  }
}
