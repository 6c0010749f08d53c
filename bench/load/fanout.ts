// 100 WatchLeases subscribers on one pool while AssignToken runs flat out over gRPC: the event rate is
// the highest the service sustains with them attached, and every subscriber must see every event.

import { ASSIGN_POOL } from "./bodies.js";
import type { Measurer, Row } from "./measure.js";
import { log, logRow } from "./progress.js";
import type { Running } from "./servers.js";
import type { PoolSetup } from "./setup.js";
import { watch, type WatcherResult } from "./watchers.js";
import { sleep } from "../../test/harness/sleep.js";

export interface FanoutResult {
  readonly subscribers: number;
  /** The AssignToken rate asked of h2load (calls/s over all connections). */
  readonly targetRate: number;
  /** Events the pool emitted while loaded. */
  readonly events: number;
  readonly eventsPerSec: number;
  /** Events received by all subscribers together, cut ones included up to their cut. */
  readonly deliveries: number;
  /** `deliveries` over the timed run plus the slowest subscriber's catch-up: what was sustained. */
  readonly deliveriesPerSec: number;
  /** Events a subscriber's stream skipped (sequence gaps, summed over subscribers): a real loss. */
  readonly lost: number;
  /** Events not yet delivered when the wait for catch-up ended (summed): slow, not lost. */
  readonly behind: number;
  /** Slowest subscriber's catch-up after the load ended, ms (undefined: not every one caught up). */
  readonly catchUpMs: number | undefined;
  /** Subscribers cut off or ended early (e.g. SLOW_CONSUMER). */
  readonly cut: number;
  readonly firstCut: string | undefined;
  readonly load: Row;
}

/** Event rates tried, lowest first: the fan-out reports the highest one every subscriber kept up with. */
const RATES = [250, 500, 1000, 2000, 4000];

/**
 * Steps the AssignToken rate (so the event rate) up until a subscriber falls behind, is cut or loses
 * an event; each step has its own subscribers. Returns the highest clean step, or the first if none was.
 */
export async function fanout(m: Measurer, server: Running, setup: PoolSetup, password: string, subscribers: number, freeNeeded: number): Promise<FanoutResult> {
  log(`${subscribers} WatchLeases subscribers on pool "${ASSIGN_POOL}" under AssignToken load, ${RATES.join(", ")} events/s`);
  let best: FanoutResult | undefined;
  let first: FanoutResult | undefined;
  for (const rate of RATES) {
    const step = await fanoutStep(m, server, setup, password, subscribers, freeNeeded, rate);
    first ??= step;
    if (step.lost > 0 || step.cut > 0 || step.behind > 0) break;
    best = step;
  }
  return best ?? first!;
}

async function fanoutStep(m: Measurer, server: Running, setup: PoolSetup, password: string, subscribers: number, freeNeeded: number, rate: number): Promise<FanoutResult> {
  await setup.ensureFree(freeNeeded);
  const start = await setup.sequence(ASSIGN_POOL);
  const watchers = Array.from({ length: subscribers }, () => watch({ url: server.url, password, pool: ASSIGN_POOL, afterSequence: start }));
  // Let every stream be established before the load starts.
  await sleep(1000);
  const load = logRow(await m.rpc(server, "grpc", "assign", 0, true, Math.max(1, Math.round(rate / m.connections))));
  const end = await setup.sequence(ASSIGN_POOL);
  const events = end - start;
  // Delivery trails the load: wait (bounded) until every subscriber has caught up.
  const loadEnded = Date.now();
  const until = loadEnded + 30_000;
  const caughtUp = (r: WatcherResult): boolean => r.endedWith !== undefined || (r.lastSequence ?? start) >= end;
  while (Date.now() < until && !watchers.every((w) => caughtUp(w.result()))) await sleep(100);
  const allCaughtUp = watchers.every((w) => caughtUp(w.result()));
  const catchUpMs = allCaughtUp ? Date.now() - loadEnded : undefined;
  const results = watchers.map((w) => w.result());
  for (const w of watchers) w.close();
  // A gap inside a stream, or events before its first one, is lost; what is after its last one is
  // still on its way (or was cut, which is counted separately).
  const lost = results.reduce((n, r) => n + r.missing + (r.firstSequence === undefined ? 0 : r.firstSequence - start - 1), 0);
  const deliveries = results.reduce((n, r) => n + r.received, 0);
  const behind = results.reduce((n, r) => n + (r.endedWith === undefined ? end - (r.lastSequence ?? start) : 0), 0);
  const cutOff = results.filter((r) => r.endedWith !== undefined);
  // Each successful AssignToken emits one event: the timed run's call rate is the event rate.
  const result: FanoutResult = {
    targetRate: rate,
    subscribers,
    events,
    eventsPerSec: load.rps,
    deliveries,
    // Over the whole time it took: the timed run plus the slowest subscriber's catch-up.
    deliveriesPerSec: load.rps > 0 && events > 0 ? deliveries / (events / load.rps + (catchUpMs ?? 30_000) / 1000) : 0,
    lost,
    behind,
    catchUpMs,
    cut: cutOff.length,
    firstCut: cutOff[0]?.endedWith,
    load,
  };
  log(
    `  ${events} events (${Math.round(result.eventsPerSec)}/s in the timed run), ${Math.round(result.deliveriesPerSec)} deliveries/s, ` +
      `lost ${lost}, behind ${behind} ${catchUpMs === undefined ? "after 30 s" : `(all caught up ${catchUpMs} ms after the load)`}, cut ${cutOff.length}${result.firstCut ? ` (${result.firstCut})` : ""}`,
  );
  return result;
}
