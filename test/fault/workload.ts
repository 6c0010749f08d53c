// A fault run: three tokenpool replicas (child processes) on a Redis topology (topology.ts: one durable
// redis-server, Sentinel, or Cluster), workers that assign (waiting or not), keep alive and release with
// idempotent retries, a resumable watcher, and injected faults — replica kill -9 while it has queued
// waiters, and the topology's own (SIGSTOP, kill -9, failover, slot migration). Everything is recorded
// in a history (history.ts) for check.ts.

import { Code, ConnectError } from "@connectrpc/connect";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { ErrorInfoSchema } from "../../gen/es/google/rpc/error_details_pb.js";
import { LeaseEventType } from "../../gen/es/tokenpool/v1/token_service_pb.js";
import { replicaClient, startReplica, type Replica, type TokenClient } from "../harness/replica-process.js";
import { sleep } from "../harness/sleep.js";
import { HistoryWriter, type Op } from "./history.js";
import { startFaultTopology, type Fault, type TopologyKind } from "./topology.js";

export type { Fault, TopologyKind };

export interface FaultRunOptions {
  readonly historyPath: string;
  /** Where Redis runs; "single" (one durable redis-server) by default. */
  readonly topology?: TopologyKind;
  /** How long the workload runs. */
  readonly seconds: number;
  /** Faults in order, one every `faultEveryMs` from the first at `faultEveryMs`; repeated to fill the run. */
  readonly faults: readonly Fault[];
  readonly faultEveryMs: number;
  readonly workers?: number;
  readonly tokens?: number;
  /** The replicas' --redis-timeout. */
  readonly redisTimeoutS?: number;
  /** How long a SIGSTOP lasts. */
  readonly stopMs?: number;
  readonly log?: (line: string) => void;
}

const POOL = "fault";
const REPLICAS = 3;

interface Slot {
  replica: Replica | undefined;
  client: TokenClient | undefined;
  /** Blocked assigns in flight on it. */
  waiting: number;
}

/** The ErrorInfo reason of a failed call, or "transport:<code>" for a failure without one. */
function outcomeOf(e: unknown): string {
  if (!(e instanceof ConnectError)) return `transport:${e instanceof Error ? e.name : "error"}`;
  return e.findDetails(ErrorInfoSchema)[0]?.reason ?? `transport:${Code[e.code]}`;
}

export async function runFaultWorkload(o: FaultRunOptions): Promise<void> {
  const log = o.log ?? (() => undefined);
  const redisTimeoutMs = (o.redisTimeoutS ?? 1) * 1000;
  const history = new HistoryWriter(o.historyPath);
  const redis = await startFaultTopology(o.topology ?? "single", { stopMs: o.stopMs ?? 3000, pool: POOL });
  const flags = ["--redis-timeout", String(o.redisTimeoutS ?? 1), ...redis.flags];
  const slots: Slot[] = [];
  try {
    const started = await Promise.all(Array.from({ length: REPLICAS }, () => startReplica(redis.url, flags)));
    for (const r of started) slots.push({ replica: r, client: replicaClient(r.url), waiting: 0 });
    const admin = slots[0]!.client!;
    await admin.createPool({ name: POOL, leaseTtl: { seconds: 5n }, idleTtl: { seconds: 0n } });
    const ids = Array.from({ length: o.tokens ?? 4 }, (_, i) => `tok-${i}`);
    await admin.generateTokens({ pool: POOL, tokens: ids });
    const startSeq = Number((await admin.getPool({ name: POOL })).pool!.sequence);
    history.write({ k: "start", t: Date.now(), pool: POOL, tokens: ids, seq: startSeq });

    let nextId = 0;
    let rr = 0;
    const live = (): number[] => slots.flatMap((s, i) => (s.client ? [i] : []));
    const pick = (): number => {
      const l = live();
      return l[rr++ % l.length]!;
    };

    /** One try of one call, recorded as invoke + complete. */
    const attempt = async <T>(
      op: Op,
      owner: string,
      extra: { rid?: string; waitMs?: number; token?: string; generation?: number },
      call: (c: TokenClient, timeoutMs: number) => Promise<T>,
      leaseOf: (r: T) => { token: string; generation: number; expireMs: number } | undefined,
    ): Promise<{ outcome: string; value?: T }> => {
      const slot = pick();
      const s = slots[slot]!;
      const client = s.client!;
      const deadlineMs = (extra.waitMs ?? 0) + redisTimeoutMs + 2000;
      const id = nextId++;
      history.write({ k: "invoke", id, t: Date.now(), op, owner, replica: slot, deadlineMs, ...extra });
      if (extra.waitMs) s.waiting++;
      try {
        const value = await call(client, deadlineMs);
        const lease = leaseOf(value);
        history.write({ k: "complete", id, t: Date.now(), outcome: "ok", ...(lease && { lease }) });
        return { outcome: "ok", value };
      } catch (e) {
        const outcome = outcomeOf(e);
        history.write({ k: "complete", id, t: Date.now(), outcome, message: (e instanceof ConnectError ? e.rawMessage : String(e)).slice(0, 200) });
        return { outcome };
      } finally {
        if (extra.waitMs) s.waiting--;
      }
    };

    let stop = false;
    const unknown = (outcome: string): boolean => outcome === "UNAVAILABLE" || outcome.startsWith("transport:");
    const worker = async (w: number): Promise<void> => {
      const owner = `w${w}`;
      for (let n = 0; !stop; n++) {
        const rid = `${owner}#${n}`;
        const waitMs = Math.random() < 0.6 ? 1000 + Math.floor(Math.random() * 1000) : 0;
        // An idempotent AssignToken: retried with the same request id until the answer is definite.
        let lease: { token: string; generation: number; expireMs: number } | undefined;
        for (const until = Date.now() + 10_000; Date.now() < until; ) {
          const r = await attempt(
            "assign",
            owner,
            { rid, ...(waitMs > 0 && { waitMs }) },
            (c, timeoutMs) => c.assignToken({ pool: POOL, owner, requestId: rid, ...(waitMs > 0 && { waitTimeout: { seconds: BigInt(Math.floor(waitMs / 1000)), nanos: (waitMs % 1000) * 1e6 } }) }, { timeoutMs }),
            (res) => res.lease && { token: res.lease.token, generation: Number(res.lease.generation), expireMs: timestampMs(res.lease.expireTime!) },
          );
          if (r.outcome === "ok") lease = r.value!.lease && { token: r.value!.lease.token, generation: Number(r.value!.lease.generation), expireMs: 0 };
          if (!unknown(r.outcome)) break;
          await sleep(50);
        }
        if (!lease) {
          await sleep(20 + Math.random() * 30);
          continue;
        }
        await sleep(50 + Math.random() * 250);
        if (Math.random() < 0.3) {
          await attempt("keepalive", owner, { token: lease.token, generation: lease.generation }, (c, timeoutMs) => c.keepAlive({ pool: POOL, tokens: [lease!.token] }, { timeoutMs }), (res) => {
            const l = res.results[0]?.lease;
            return l && Number(l.generation) === lease!.generation ? { token: l.token, generation: lease!.generation, expireMs: timestampMs(l.expireTime!) } : undefined;
          });
        }
        // A fenced release, retried until definite (NOT_HELD / LEASE_MISMATCH after a retry: it landed, or the lease expired).
        for (const until = Date.now() + 10_000; Date.now() < until; ) {
          const r = await attempt(
            "release",
            owner,
            { token: lease.token, generation: lease.generation },
            (c, timeoutMs) => c.releaseToken({ pool: POOL, token: lease!.token, generation: BigInt(lease!.generation), owner }, { timeoutMs }),
            () => undefined,
          );
          if (!unknown(r.outcome)) break;
          await sleep(50);
        }
      }
    };

    // The watcher: resumes by sequence on whichever replica is up.
    let lastSeq = startSeq;
    let watching = true;
    const watchAbort = new AbortController();
    const watcher = (async () => {
      while (watching) {
        const client = slots[pick()]!.client!;
        try {
          for await (const m of client.watchLeases({ pool: POOL, afterSequence: BigInt(lastSeq) }, { signal: watchAbort.signal })) {
            if (m.kind.case !== "event") continue;
            const e = m.kind.value;
            lastSeq = Number(e.sequence);
            history.write({
              k: "event",
              seq: lastSeq,
              type: LeaseEventType[e.type],
              token: e.token,
              owner: e.owner,
              generation: Number(e.generation),
              time: e.time ? timestampMs(e.time) : 0,
            });
          }
        } catch {
          if (!watching) return;
        }
        await sleep(100);
      }
    })();

    const inject = async (fault: Fault): Promise<void> => {
      if (fault === "replica-kill") {
        // The victim: the replica with the most blocked assigns in flight (waiting up to 1 s for some).
        for (let i = 0; i < 20 && !slots.some((s) => s.client && s.waiting > 0); i++) await sleep(50);
        const victim = live().reduce((a, b) => (slots[b]!.waiting > slots[a]!.waiting ? b : a));
        const s = slots[victim]!;
        const queued = s.waiting;
        const replica = s.replica!;
        s.client = undefined;
        history.write({ k: "fault", t: Date.now(), what: "replica-kill", replica: victim, queued });
        log(`fault: kill -9 replica ${victim} with ${queued} blocked assigns in flight`);
        await replica.kill();
        void startReplica(redis.url, flags).then(
          (r) => {
            s.replica = r;
            s.client = replicaClient(r.url);
            history.write({ k: "fault", t: Date.now(), what: "replica-start", replica: victim });
          },
          (e: unknown) => log(`replica ${victim} did not restart: ${String(e)}`),
        );
      } else {
        await redis.inject(fault, (what, extra) => history.write({ k: "fault", t: Date.now(), what, ...extra }), log);
      }
    };

    const workers = Array.from({ length: o.workers ?? 12 }, (_, i) => worker(i));
    const until = Date.now() + o.seconds * 1000;
    for (let n = 0; Date.now() + o.faultEveryMs < until; n++) {
      await sleep(o.faultEveryMs);
      await inject(o.faults[n % o.faults.length]!);
    }
    // At least one fault interval of service after the last fault has been repaired (a Sentinel
    // failover under a SIGSTOP can run past the planned end): the history must show the pool working again.
    await sleep(Math.max(o.faultEveryMs, until - Date.now()));
    stop = true;
    await Promise.all(workers);

    // Settle: every replica back, the watcher caught up with the pool's last event.
    for (let i = 0; i < 200 && live().length < REPLICAS; i++) await sleep(50);
    const final = (await slots[live()[0]!]!.client!.getPool({ name: POOL })).pool!;
    for (let i = 0; i < 200 && lastSeq < Number(final.sequence); i++) await sleep(50);
    watching = false;
    watchAbort.abort();
    await watcher;
    history.write({ k: "end", t: Date.now(), seq: Number(final.sequence), generation: Number(final.generation) });
  } finally {
    await history.close();
    for (let i = 0; i < 100 && slots.some((s) => s.replica && !s.client); i++) await sleep(50); // a restart in progress
    await Promise.all(slots.map((s) => s.replica?.stop()));
    await redis.stop();
  }
}
