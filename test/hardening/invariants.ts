// Pool invariants after a fuzz run, checked through the public API: every pool has
// total = available + held (+ cordoned free tokens) and no stranded waiters; a live all-pools WatchLeases recording,
// replayed per pool, agrees with GetToken for every token it saw, sequences have no gaps, fencing
// generations only grow, and where the whole history was seen the counts match GetPool.

import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { LeaseEventType, TokenService, TokenState, type LeaseEvent, type Pool } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { sleep } from "../harness/sleep.js";

/** A token's state after the last event seen for it, and that event (for problem reports). */
type TokenReplay = ({ readonly state: "free" } | { readonly state: "held"; readonly owner: string; readonly generation: bigint } | { readonly state: "gone" }) & {
  readonly after?: string;
};

interface PoolReplay {
  /** Sequence of the first event seen for this incarnation of the pool (1 = whole history). */
  firstSequence: bigint;
  lastSequence: bigint;
  maxGeneration: bigint;
  readonly tokens: Map<string, TokenReplay>;
}

export interface EventRecorder {
  /** False when the server does not offer an all-pools watch (then only counts are checked). */
  readonly available: boolean;
  readonly events: () => number;
  /** Problems found while replaying (gaps, impossible transitions), and why recording stopped, if it did. */
  readonly problems: string[];
  readonly pools: ReadonlyMap<string, PoolReplay>;
  stop(): void;
}

export interface InvariantReport {
  readonly pools: number;
  readonly tokensChecked: number;
  readonly eventsReplayed: number;
  /** Pools whose complete event history was seen, so counts could be compared too. */
  readonly completeHistories: number;
  readonly problems: string[];
}

function client(baseUrl: string): Client<typeof TokenService> {
  return createClient(TokenService, createGrpcTransport({ baseUrl }));
}

/** Starts recording every lease event of every pool; start it before the traffic it should see. */
export async function startEventRecorder(baseUrl: string, password: string): Promise<EventRecorder> {
  const c = client(baseUrl);
  const abort = new AbortController();
  const pools = new Map<string, PoolReplay>();
  const problems: string[] = [];
  let events = 0;
  let stopped = false;
  let available = true;
  let resolveStarted: () => void = () => undefined;
  const started = new Promise<void>((r) => (resolveStarted = r));
  const apply = (e: LeaseEvent): void => {
    events++;
    let p = pools.get(e.pool);
    if (!p || e.sequence === 1n) {
      // First sight of the pool, or a pool deleted and created again (sequences restart at 1).
      p = { firstSequence: e.sequence, lastSequence: e.sequence - 1n, maxGeneration: 0n, tokens: new Map() };
      pools.set(e.pool, p);
    }
    if (e.sequence !== p.lastSequence + 1n) problems.push(`pool ${e.pool}: event sequence ${e.sequence} after ${p.lastSequence}`);
    p.lastSequence = e.sequence;
    if (e.token === "") return; // WAITER_TIMED_OUT
    const before = p.tokens.get(e.token);
    const after = `${LeaseEventType[e.type]} seq ${e.sequence} owner ${JSON.stringify(e.owner)} gen ${e.generation} at ${e.time ? new Date(Number(e.time.seconds) * 1000 + e.time.nanos / 1e6).toISOString() : "?"}`;
    const was = before?.after ? ` (after ${before.after})` : "";
    switch (e.type) {
      case LeaseEventType.GENERATED:
        if (before && before.state !== "gone") problems.push(`pool ${e.pool}: GENERATED existing token ${e.token}${was}`);
        p.tokens.set(e.token, { state: "free", after });
        break;
      case LeaseEventType.ASSIGNED:
        if (before?.state === "held") problems.push(`pool ${e.pool}: ${after} of held token ${e.token}${was}`);
        if (e.generation <= p.maxGeneration) problems.push(`pool ${e.pool}: generation ${e.generation} not above ${p.maxGeneration} (seq ${e.sequence})`);
        p.maxGeneration = e.generation > p.maxGeneration ? e.generation : p.maxGeneration;
        p.tokens.set(e.token, { state: "held", owner: e.owner, generation: e.generation, after });
        break;
      case LeaseEventType.RENEWED:
        // KeepAlive of a free token refreshes its idle deadline: RENEWED without a lease (generation 0).
        if (e.generation === 0n) {
          if (before?.state === "held") problems.push(`pool ${e.pool}: ${after} (no lease) of held token ${e.token}${was}`);
          p.tokens.set(e.token, { state: "free", after });
          break;
        }
        // A renewal extends the lease it names: the same holder and generation.
        if (before && (before.state !== "held" || before.generation !== e.generation || before.owner !== e.owner)) {
          problems.push(`pool ${e.pool}: ${after} does not match token ${e.token}${was}`);
        }
        p.tokens.set(e.token, { state: "held", owner: e.owner, generation: e.generation, after });
        break;
      case LeaseEventType.RELEASED:
      case LeaseEventType.LEASE_EXPIRED:
        if (before && before.state !== "held") problems.push(`pool ${e.pool}: ${after} of ${before.state} token ${e.token}${was}`);
        p.tokens.set(e.token, { state: "free", after });
        break;
      case LeaseEventType.IDLE_EXPIRED:
      case LeaseEventType.DELETED:
        p.tokens.set(e.token, { state: "gone", after });
        break;
    }
  };
  void (async () => {
    try {
      const stream = c.watchLeases(
        { allPools: true, heartbeatInterval: { seconds: 1n } },
        { signal: abort.signal, headers: { "x-api-password": password } },
      );
      for await (const m of stream) {
        resolveStarted();
        if (m.kind.case === "event") apply(m.kind.value);
      }
      if (!stopped) problems.push("event recording ended early");
    } catch (e) {
      if (stopped) return;
      const ce = ConnectError.from(e);
      if (ce.code === Code.Unavailable && /all_pools/.test(ce.rawMessage)) available = false;
      else problems.push(`event recording failed: ${ce.code} ${ce.rawMessage}`);
    } finally {
      resolveStarted();
    }
  })();
  // The first heartbeat proves the watch is registered before any traffic it must see.
  await Promise.race([started, sleep(3000)]);
  return {
    get available() {
      return available;
    },
    events: () => events,
    problems,
    pools,
    stop() {
      stopped = true;
      abort.abort();
    },
  };
}

async function listPools(c: Client<typeof TokenService>, headers: Record<string, string>): Promise<Pool[]> {
  const out: Pool[] = [];
  let pageToken = "";
  do {
    const page = await c.listPools({ pageSize: 1000, pageToken }, { headers });
    out.push(...page.pools);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return out;
}


/** Checks every pool; call after the traffic has stopped (expiries may still be running). */
export async function checkPoolInvariants(options: {
  readonly baseUrl: string;
  readonly password: string;
  readonly recorder?: EventRecorder;
  /** At most this many GetToken calls in all (large soak runs). */
  readonly maxTokenChecks?: number;
}): Promise<InvariantReport> {
  const c = client(options.baseUrl);
  const headers = { "x-api-password": options.password };
  const problems: string[] = [...(options.recorder?.problems ?? [])];
  const recorder = options.recorder?.available ? options.recorder : undefined;
  const budget = { left: options.maxTokenChecks ?? 50_000 };
  let tokensChecked = 0;
  let completeHistories = 0;
  const pools = await listPools(c, headers);
  for (const listed of pools) {
    const name = listed.name;
    // Counts, and waiters: every fuzz client has gone, so a blocked AssignToken left behind is a leak.
    let pool: Pool | undefined;
    for (let round = 0; ; round++) {
      pool = await getPool(c, name, headers);
      if (!pool || pool.waiters === 0 || round >= 30) break;
      await sleep(100);
    }
    if (!pool) continue; // deleted by an expiry race; nothing to check
    if (!countsAddUp(pool)) problems.push(`pool ${name}: total ${pool.total} != available ${pool.available} + held ${pool.held} + cordoned free (at most ${pool.cordoned})`);
    if (pool.waiters !== 0) problems.push(`pool ${name}: ${pool.waiters} waiters left after every client went away`);
    if (!recorder) continue;
    // Replay vs. GetToken, retried while expiries keep moving the pool under us.
    for (let round = 0; round < 8; round++) {
      const before = await getPool(c, name, headers);
      if (!before) break;
      if (!(await waitForRecorder(recorder, name, before.sequence))) {
        problems.push(`pool ${name}: the event recorder never caught up with sequence ${before.sequence} (saw ${recorder.pools.get(name)?.lastSequence ?? 0n})`);
        break;
      }
      const replay = recorder.pools.get(name);
      const fresh = !replay || replay.lastSequence > before.sequence; // recreated without events yet
      const mismatches: string[] = [];
      let held = 0;
      let existing = 0;
      if (!fresh && replay) {
        for (const [token, want] of replay.tokens) {
          if (budget.left-- <= 0) break;
          tokensChecked++;
          if (want.state === "held") held++;
          if (want.state !== "gone") existing++;
          const got = await getToken(c, name, token, headers);
          const same =
            want.state === "gone"
              ? got === "not-found"
              : want.state === "free"
                ? got !== "not-found" && got.state === TokenState.FREE
                : got !== "not-found" && got.state === TokenState.HELD && got.lease?.owner === want.owner && got.lease.generation === want.generation;
          if (!same) mismatches.push(`token ${token}: events say ${JSON.stringify(want, (_, v: unknown) => (typeof v === "bigint" ? String(v) : v))}, GetToken says ${describeToken(got)}`);
        }
      }
      const after = await getPool(c, name, headers);
      if (!after || after.sequence !== before.sequence) continue; // it moved: look again
      problems.push(...mismatches.map((m) => `pool ${name}: ${m}`));
      const complete = fresh || (replay !== undefined && replay.firstSequence === 1n);
      if (complete) {
        completeHistories++;
        if (held !== after.held || existing !== after.total) {
          problems.push(`pool ${name}: replay has ${existing} tokens / ${held} held, GetPool ${after.total} / ${after.held}`);
        }
      }
      break;
    }
  }
  return { pools: pools.length, tokensChecked, eventsReplayed: options.recorder?.events() ?? 0, completeHistories, problems };
}

/**
 * Waits until the recorder has seen the pool's sequence: after a burst (a pool created with 10^5
 * tokens) it trails by seconds. False when it never got there: the replay would then be judged on
 * an incomplete history.
 */
async function waitForRecorder(recorder: EventRecorder, pool: string, sequence: bigint): Promise<boolean> {
  const until = Date.now() + 30_000;
  for (;;) {
    const seen = recorder.pools.get(pool)?.lastSequence ?? 0n;
    if (seen >= sequence) return true;
    if (Date.now() > until) return false;
    await sleep(20);
  }
}

async function getPool(c: Client<typeof TokenService>, name: string, headers: Record<string, string>): Promise<Pool | undefined> {
  try {
    return (await c.getPool({ name }, { headers })).pool;
  } catch (e) {
    if (ConnectError.from(e).code === Code.NotFound) return undefined;
    throw e;
  }
}

type TokenView = { state: TokenState; lease: { owner: string; generation: bigint } | undefined };

async function getToken(c: Client<typeof TokenService>, pool: string, token: string, headers: Record<string, string>): Promise<TokenView | "not-found"> {
  try {
    const r = await c.getToken({ pool, token }, { headers });
    return { state: r.state, lease: r.lease && { owner: r.lease.owner, generation: r.lease.generation } };
  } catch (e) {
    if (ConnectError.from(e).code === Code.NotFound) return "not-found";
    throw e;
  }
}

function describeToken(t: TokenView | "not-found"): string {
  if (t === "not-found") return "not found";
  return `${TokenState[t.state]}${t.lease ? ` owner=${JSON.stringify(t.lease.owner)} generation=${t.lease.generation}` : ""}`;
}

/** total = available + held + cordoned free tokens; GetPool reports cordoned ones, free or held, so the free share is bounded by it. */
function countsAddUp(p: { total: number; available: number; held: number; cordoned: number }): boolean {
  const cordonedFree = p.total - p.available - p.held;
  return cordonedFree >= 0 && cordonedFree <= p.cordoned;
}
