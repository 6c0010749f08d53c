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
  /** Events the pool emitted while loaded. */
  readonly events: number;
  readonly eventsPerSec: number;
  /** Messages delivered to all subscribers together per second. */
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

export async function fanout(m: Measurer, server: Running, setup: PoolSetup, password: string, subscribers: number, freeNeeded: number): Promise<FanoutResult> {
  log(`${subscribers} WatchLeases subscribers on pool "${ASSIGN_POOL}" under AssignToken load`);
  await setup.ensureFree(freeNeeded);
  const start = await setup.sequence(ASSIGN_POOL);
  const watchers = Array.from({ length: subscribers }, () => watch({ url: server.url, password, pool: ASSIGN_POOL, afterSequence: start }));
  // Let every stream be established before the load starts.
  await sleep(1000);
  const load = logRow(await m.rpc(server, "grpc", "assign", 0, true));
  const end = await setup.sequence(ASSIGN_POOL);
  const events = end - start;
  // Delivery trails the load: wait (bounded) until every subscriber has caught up.
  const loadEnded = Date.now();
  const until = loadEnded + 60_000;
  const caughtUp = (r: WatcherResult): boolean => r.endedWith !== undefined || (r.lastSequence ?? start) >= end;
  while (Date.now() < until && !watchers.every((w) => caughtUp(w.result()))) await sleep(100);
  const allCaughtUp = watchers.every((w) => caughtUp(w.result()));
  const catchUpMs = allCaughtUp ? Date.now() - loadEnded : undefined;
  const results = watchers.map((w) => w.result());
  for (const w of watchers) w.close();
  // A gap inside a stream, or events before its first one, is lost; what is after its last one is
  // still on its way (or was cut, which is counted separately).
  const lost = results.reduce((n, r) => n + r.missing + (r.firstSequence === undefined ? 0 : r.firstSequence - start - 1), 0);
  const behind = results.reduce((n, r) => n + (r.endedWith === undefined ? end - (r.lastSequence ?? start) : 0), 0);
  const cutOff = results.filter((r) => r.endedWith !== undefined);
  // Each successful AssignToken emits one event: the timed run's call rate is the event rate.
  const result: FanoutResult = {
    subscribers,
    events,
    eventsPerSec: load.rps,
    deliveriesPerSec: load.rps * subscribers * (events > 0 ? 1 - (lost + behind) / (events * subscribers) : 0),
    lost,
    behind,
    catchUpMs,
    cut: cutOff.length,
    firstCut: cutOff[0]?.endedWith,
    load,
  };
  log(
    `  ${events} events (${Math.round(result.eventsPerSec)}/s in the timed run), ${Math.round(result.deliveriesPerSec)} deliveries/s, ` +
      `lost ${lost}, behind ${behind} ${catchUpMs === undefined ? "after 60 s" : `(all caught up ${catchUpMs} ms after the load)`}, cut ${cutOff.length}${result.firstCut ? ` (${result.firstCut})` : ""}`,
  );
  return result;
}
