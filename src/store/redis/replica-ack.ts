// WAIT after a mutating script (--redis-min-replicas-ack), on the connection that ran the script so it
// covers that write: one WAIT shared by every script answered meanwhile (group commit) on one server or
// Sentinel; per call, pipelined with its script to the slot's node, on a Cluster.

import { Cluster, type Redis } from "ioredis";
import type { RedisClient } from "./connection.js";
import type { LuaScript } from "./lua-script.js";
import type { ReplicaAck } from "../../config/redis-topology.js";

/** The script ran on the primary but fewer replicas than asked confirmed it: the change may not survive a failover. */
export class ReplicaAckError extends Error {
  constructor(
    readonly acked: number,
    readonly wanted: number,
    timeoutMs: number,
  ) {
    super(
      `store unavailable: the change was made on the Redis primary but only ${acked} of the ${wanted} required replica(s) ` +
        `confirmed it within ${timeoutMs} ms, so a failover now could undo it; it may or may not stand: retry ` +
        `(AssignToken with the same request_id returns the same lease; ReleaseToken with the generation is safe to repeat)`,
    );
  }
}

/** Waits for a script's write to reach the replicas `ack` asks for. */
export class ReplicaAcks {
  private inFlight = false;
  /** Callers whose script replied while a WAIT was in flight: the next WAIT covers them all. */
  private joined: { socket: unknown; resolve: (acks: number) => void; reject: (e: unknown) => void }[] = [];

  constructor(
    private readonly client: RedisClient,
    private readonly ack: ReplicaAck,
  ) {}

  /** Runs the script, then answers its reply once `minReplicas` replicas have it; else ReplicaAckError. */
  async run(script: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<Record<string, unknown>> {
    const client = this.client;
    if (client instanceof Cluster) return runAcked(client, script, keys, args, this.ack);
    const reply = await script.json(client, keys, args);
    const acks = await this.confirm(client);
    if (acks < this.ack.minReplicas) throw new ReplicaAckError(acks, this.ack.minReplicas, this.ack.timeoutMs);
    return reply;
  }

  /**
   * The acknowledgements of a WAIT sent after this call on the same socket as the script's reply. WAIT
   * counts replicas that have every write this connection made: sent later on the same socket it covers
   * the script; on a new socket (reconnected, maybe to another primary) it would cover nothing, so that
   * counts as no acknowledgement.
   */
  private confirm(client: Redis): Promise<number> {
    return new Promise((resolve, reject) => {
      this.joined.push({ socket: client.stream, resolve, reject });
      if (!this.inFlight) this.flush(client);
    });
  }

  private flush(client: Redis): void {
    const batch = this.joined;
    this.joined = [];
    this.inFlight = true;
    const socket = client.stream;
    client
      .call("WAIT", this.ack.minReplicas, this.ack.timeoutMs)
      .then(
        (acks) => {
          for (const b of batch) b.resolve(b.socket === socket ? Number(acks) : 0);
        },
        (e: unknown) => {
          for (const b of batch) b.reject(e);
        },
      )
      .finally(() => {
        this.inFlight = false;
        if (this.joined.length > 0) this.flush(client);
      });
  }
}

/** Redirections a script + WAIT pipeline follows, as ioredis's own maxRedirections for single commands. */
const MAX_REDIRECTIONS = 16;
/** Pause before resending a pipeline refused with TRYAGAIN (a slot's keys split mid-migration). */
const TRYAGAIN_DELAY_MS = 50;

/**
 * Runs `script` then `WAIT minReplicas timeout` in one pipeline on the slot's master; returns the
 * script's JSON reply once enough replicas have it, throws ReplicaAckError when they did not confirm in
 * time.
 *
 * ioredis does not follow MOVED / ASK / TRYAGAIN for this pipeline: it resends a redirected pipeline
 * only when every command that did not fail is read-only, and WAIT (answered by the old node) is not.
 * It then neither updates its slot map nor refreshes it, so after a pool's slot moved every call of that
 * pool kept going to the old master and answered UNAVAILABLE until the periodic slot refresh (5 s). So
 * the redirections are followed here: a refused script ran nowhere, so resending it is safe, and the
 * pipeline goes straight to the node the refusal names (ASKING first for ASK), on that node's own
 * connection, so its WAIT covers the write there.
 */
async function runAcked(
  cluster: Cluster,
  script: LuaScript,
  keys: readonly string[],
  args: readonly (string | number)[],
  ack: ReplicaAck,
): Promise<Record<string, unknown>> {
  const params = [...keys, ...args.map(String)];
  let target: Cluster | Redis = cluster;
  let asking = false;
  let useSha = true;
  for (let hop = 0; ; hop++) {
    const p = target.pipeline();
    if (asking) p.asking();
    if (useSha) p.evalsha(script.sha, keys.length, params); // one flat array: GenerateTokens may pass 100k ids
    else p.eval(script.source, keys.length, params);
    p.call("WAIT", ack.minReplicas, ack.timeoutMs);
    const results = await p.exec();
    const expected = asking ? 3 : 2;
    if (!results || results.length !== expected) throw new Error(`script ${script.name}: pipeline returned no results`);
    const [[scriptError, reply], [waitError, acks]] = results.slice(asking ? 1 : 0) as [[Error | null, unknown], [Error | null, unknown]];
    if (scriptError) {
      const refusal = /^(MOVED|ASK) \d+ (\S+):(\d+)/.exec(scriptError.message);
      const retry = hop < MAX_REDIRECTIONS;
      if (retry && scriptError.message.startsWith("NOSCRIPT") && useSha) {
        useSha = false; // EVAL caches it for the next EVALSHA
        continue;
      }
      if (retry && refusal) {
        const [, kind, host, port] = refusal;
        if (kind === "MOVED") cluster.refreshSlotsCache(); // later calls go to the new master directly
        target = nodeAt(cluster, host!, Number(port)) ?? cluster;
        asking = kind === "ASK" && target !== cluster;
        continue;
      }
      if (retry && scriptError.message.startsWith("TRYAGAIN")) {
        await new Promise((resolve) => setTimeout(resolve, TRYAGAIN_DELAY_MS));
        continue;
      }
      throw scriptError;
    }
    if (waitError) throw waitError;
    if (typeof reply !== "string") throw new Error(`script ${script.name} replied with ${typeof reply}, not JSON`);
    if (Number(acks) < ack.minReplicas) throw new ReplicaAckError(Number(acks), ack.minReplicas, ack.timeoutMs);
    return JSON.parse(reply) as Record<string, unknown>;
  }
}

/** The cluster's own connection to the master at host:port, if it has one. */
function nodeAt(cluster: Cluster, host: string, port: number): Redis | undefined {
  return cluster.nodes("master").find((n) => n.options.port === port && (n.options.host === host || n.options.host === undefined));
}
