// One reader loop per pool per replica: XREAD BLOCK on the pool's event stream over a dedicated
// connection, fanned out locally to watchers of the pool or of all pools (each with its own position,
// so a replay or a late joiner is filled from XRANGE without holding up the others) and to this
// replica's blocked assigns.
// The stream is durable in Redis, so a Redis outage only pauses the loop; it resumes where it stopped.
// With --redis-min-replicas-ack, events reach watchers only once that many replicas have them.

import { Cluster, type Redis } from "ioredis";
import type { ReplicaAck } from "../../config/redis-topology.js";
import type { Lease, LeaseEvent } from "../../core/types.js";
import type { WatchEnd } from "../../runtime/event-hub.js";
import type { Logger } from "../../runtime/logger.js";
import { createBlockingClient, type ConnectionOptions, type RedisClient } from "./connection.js";
import { within } from "./deadline.js";
import { streamEntryOf, type StreamEntry } from "./lua-replies.js";

/** This replica's side of a blocked assign, told how it ended when the stream says so. */
export interface StreamWaiter {
  granted(lease: Lease, available: number): void;
  timedOut(poolDeleted: boolean): void;
  /** The loop may have skipped this waiter's outcome (trimmed or joined late): ask Redis. */
  recheck(): void;
}

/**
 * Where a watcher's events go: a pool watch's Subscription, or one pool's share of an all-pools watch
 * (which outlives the pool, so it decides for itself what an end means).
 */
export interface StreamSink {
  offer(event: LeaseEvent): void;
  end(reason: WatchEnd): void;
}

/** A watcher's position: events up to `last` have been offered to it. */
interface Tail {
  readonly sub: StreamSink;
  last: number;
  /** Replay in progress up to `fillTo`; live events wait in `pending` meanwhile. */
  filling: boolean;
  fillTo: number;
  pending: LeaseEvent[];
}

export interface PoolStreamDeps {
  readonly pool: string;
  readonly streamKey: string;
  readonly connection: ConnectionOptions;
  /** The shared command client, for replays. */
  readonly command: RedisClient;
  /** The pool's current incarnation, or undefined when it no longer exists. */
  readonly incarnation: () => Promise<string | undefined>;
  /** Events a watcher may have pending before it is cut off (as the event hub's subscriber buffer). */
  readonly bufferLimit: number;
  readonly onIdle: (stream: PoolStream) => void;
  readonly log: Logger;
  /** --redis-min-replicas-ack: deliver only events that many replicas have (one server / Sentinel). */
  readonly replicaAck?: ReplicaAck;
}

const BLOCK_MS = 2000;
const READ_COUNT = 1000;

const seqOf = (id: string): number => Number(id.slice(0, id.indexOf("-")));

/**
 * True once `minReplicas` replicas have everything this connection's node had when it answered the
 * read just before: WAIT counts replicas that acknowledged the connection's last write, so a PUBLISH (a
 * write that changes no key, to a channel nobody listens on) first puts every earlier write of every
 * client, the events just read among them, before that point of the replication stream. Without it an
 * event read from a primary that dies (or is frozen and demoted) before its replica got it reaches the
 * watcher and is then undone by the failover, and the promoted primary reuses its sequence number for a
 * different event. A reply on another socket (reconnected, maybe to another primary) confirms nothing.
 */
async function confirmed(client: Redis, channel: string, ack: ReplicaAck, socket: unknown, limitMs: number): Promise<boolean> {
  await within(client.publish(channel, ""), limitMs);
  const acks = Number(await within(client.call("WAIT", ack.minReplicas, ack.timeoutMs), limitMs + ack.timeoutMs));
  return acks >= ack.minReplicas && client.stream === socket;
}

export class PoolStream {
  private readonly tails = new Set<Tail>();
  private readonly waiters = new Map<number, StreamWaiter>();
  private client: RedisClient | undefined;
  private stopped = false;
  /** Reads not delivered because the replicas had not confirmed them (logged once per run of them). */
  private unconfirmed = 0;

  constructor(
    private readonly deps: PoolStreamDeps,
    /** The pool incarnation this loop follows. */
    readonly incarnation: string,
    /** Last sequence read. */
    private cursor: number,
  ) {
    void this.loop();
  }

  get closed(): boolean {
    return this.stopped;
  }

  /** Starts delivering to `sub` every event after `after` (replayed from the stream first if needed). */
  addSubscription(sub: StreamSink, after: number): void {
    const tail: Tail = { sub, last: after, filling: false, fillTo: after, pending: [] };
    this.tails.add(tail);
    if (after < this.cursor) this.startFill(tail, this.cursor);
  }

  removeSubscription(sub: StreamSink): void {
    for (const t of this.tails) if (t.sub === sub) this.tails.delete(t);
    this.maybeIdle();
  }

  /** Registers a blocked assign queued when the pool's sequence was `registeredAt`. */
  addWaiter(id: number, waiter: StreamWaiter, registeredAt: number): void {
    this.waiters.set(id, waiter);
    // The loop is already past the registration: the outcome may have gone by unseen.
    if (this.cursor > registeredAt) waiter.recheck();
  }

  removeWaiter(id: number): void {
    this.waiters.delete(id);
    this.maybeIdle();
  }

  /** Ends everything (shutdown or pool deleted) and stops the loop. */
  stop(end: (sub: StreamSink) => void, endWaiter: (w: StreamWaiter) => void): void {
    if (this.stopped) return;
    this.stopped = true;
    const tails = [...this.tails];
    const waiters = [...this.waiters.values()];
    this.tails.clear();
    this.waiters.clear();
    for (const t of tails) end(t.sub);
    for (const w of waiters) endWaiter(w);
    this.client?.disconnect();
    this.deps.onIdle(this);
  }

  private maybeIdle(): void {
    if (this.tails.size > 0 || this.waiters.size > 0 || this.stopped) return;
    this.stopped = true;
    this.client?.disconnect();
    this.deps.onIdle(this);
  }

  private async loop(): Promise<void> {
    const { deps } = this;
    const client = createBlockingClient(deps.connection);
    this.client = client;
    client.on("error", () => undefined); // surfaced through failed reads below
    let failures = 0;
    while (!this.stopped) {
      try {
        if (client.status === "wait" || client.status === "end") await client.connect();
        const socket = client instanceof Cluster ? undefined : client.stream;
        const reply = await client.xread("COUNT", READ_COUNT, "BLOCK", BLOCK_MS, "STREAMS", deps.streamKey, `${this.cursor}-0`);
        if (failures > 0) {
          failures = 0;
          if (await this.poolReplaced()) return;
        }
        const entries = reply?.[0]?.[1] ?? [];
        if (entries.length === 0) {
          // Quiet: make sure the pool still exists (a missed tombstone would leave us waiting forever).
          if (await this.poolReplaced()) return;
          continue;
        }
        if (!(await this.durable(client, socket))) {
          // Not on enough replicas yet: read the same entries again (from whichever primary is current).
          if (this.unconfirmed++ === 0) deps.log.warn({ pool: deps.pool }, "events read but not confirmed by the replicas; holding them back");
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        this.unconfirmed = 0;
        for (const [id, fields] of entries) {
          if (this.stopped) return;
          const seq = seqOf(id);
          // Entries trimmed before we read them: blocked assigns may have missed their outcome.
          if (seq > this.cursor + 1) for (const w of this.waiters.values()) w.recheck();
          this.cursor = seq;
          const raw = fields[1];
          if (raw !== undefined) this.dispatch(streamEntryOf(deps.pool, raw));
        }
      } catch (e) {
        if (this.stopped) return;
        if (failures++ === 0) deps.log.warn({ err: e, pool: deps.pool }, "event stream read failed; retrying");
        await new Promise((r) => setTimeout(r, Math.min(100 * failures, 1000)));
      }
    }
  }

  /**
   * Whether what `client` just read may be delivered: always without --redis-min-replicas-ack, else once
   * the replicas confirmed it. On a Cluster a keyless PUBLISH and WAIT would not reach the pool's master
   * by themselves: events are delivered as read there (docs/SCALING.md).
   */
  private async durable(client: RedisClient, socket: unknown): Promise<boolean> {
    const ack = this.deps.replicaAck;
    if (!ack || ack.minReplicas <= 0 || client instanceof Cluster) return true;
    return confirmed(client, `${this.deps.streamKey}:confirm`, ack, socket, this.deps.connection.commandTimeoutMs);
  }

  /** True (and everything ended) when the pool was deleted, possibly recreated, behind our back. */
  private async poolReplaced(): Promise<boolean> {
    const current = await this.deps.incarnation();
    if (current === this.incarnation) return false;
    this.endDeleted();
    return true;
  }

  private endDeleted(): void {
    const pool = this.deps.pool;
    this.stop(
      (sub) => sub.end({ code: "POOL_DELETED", pool }),
      (w) => w.timedOut(true),
    );
  }

  private dispatch(entry: StreamEntry): void {
    if (entry.kind === "pool-deleted") {
      this.endDeleted();
      return;
    }
    const { event } = entry;
    if (event.waiterId !== undefined) {
      const waiter = this.waiters.get(event.waiterId);
      if (waiter) {
        if (entry.granted) waiter.granted(entry.granted.lease, entry.granted.available);
        else if (event.type === "WAITER_TIMED_OUT") waiter.timedOut(entry.poolDeleted);
      }
    }
    for (const tail of this.tails) this.deliver(tail, event);
  }

  private deliver(tail: Tail, event: LeaseEvent): void {
    if (tail.filling) {
      if (tail.pending.length >= this.deps.bufferLimit) {
        this.cutOff(tail);
        return;
      }
      tail.pending.push(event);
      return;
    }
    if (event.sequence <= tail.last) return;
    if (event.sequence === tail.last + 1) {
      tail.last = event.sequence;
      tail.sub.offer(event);
      return;
    }
    tail.pending.push(event);
    this.startFill(tail, event.sequence - 1);
  }

  private startFill(tail: Tail, to: number): void {
    tail.fillTo = Math.max(tail.fillTo, to);
    if (tail.filling) return;
    tail.filling = true;
    void this.fill(tail);
  }

  /** Replays (last, fillTo] from the stream, then what arrived live meanwhile. */
  private async fill(tail: Tail): Promise<void> {
    const { deps } = this;
    let failures = 0;
    while (tail.last < tail.fillTo && this.tails.has(tail)) {
      let entries: [string, string[]][];
      try {
        const command = deps.command;
        const socket = command instanceof Cluster ? undefined : command.stream;
        entries = await command.xrange(deps.streamKey, `${tail.last + 1}-0`, `${tail.fillTo}-0`, "COUNT", READ_COUNT);
        if (entries.length > 0 && !(await this.durable(command, socket))) throw new Error("replay not confirmed by the replicas");
      } catch {
        // Redis away: the watcher just waits; events stay in the stream.
        await new Promise((r) => setTimeout(r, Math.min(100 * ++failures, 1000)));
        continue;
      }
      const first = entries[0];
      if (!first || seqOf(first[0]) !== tail.last + 1) {
        // Trimmed before this watcher got them: it fell further behind than the stream keeps.
        this.cutOff(tail);
        return;
      }
      for (const [id, fields] of entries) {
        const raw = fields[1];
        if (raw === undefined) continue;
        const entry = streamEntryOf(deps.pool, raw);
        tail.last = seqOf(id);
        if (entry.kind === "event") tail.sub.offer(entry.event);
      }
    }
    tail.filling = false;
    const pending = tail.pending;
    tail.pending = [];
    for (const e of pending) this.deliver(tail, e);
  }

  private cutOff(tail: Tail): void {
    this.tails.delete(tail);
    tail.sub.end({ code: "SLOW_CONSUMER", pool: this.deps.pool, lastSequence: tail.last, limit: this.deps.bufferLimit });
  }
}
