// WAIT after a mutating script (--redis-min-replicas-ack): the script and WAIT go out as one pipeline
// on the connection of the node that runs the script, so the WAIT covers exactly that write.

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

/**
 * Runs `script` then `WAIT minReplicas timeout` in one pipeline; returns the script's JSON reply once
 * enough replicas have it, throws ReplicaAckError when they did not confirm in time.
 */
export async function runAcked(
  client: RedisClient,
  script: LuaScript,
  keys: readonly string[],
  args: readonly (string | number)[],
  ack: ReplicaAck,
): Promise<Record<string, unknown>> {
  const params = [...keys, ...args.map(String)];
  const once = async (useSha: boolean): Promise<[unknown, number]> => {
    const p = client.pipeline();
    if (useSha) p.evalsha(script.sha, keys.length, params); // one flat array: GenerateTokens may pass 100k ids
    else p.eval(script.source, keys.length, params);
    p.call("WAIT", ack.minReplicas, ack.timeoutMs);
    const results = await p.exec();
    if (!results || results.length !== 2) throw new Error(`script ${script.name}: pipeline returned no results`);
    const [[scriptError, reply], [waitError, acks]] = results as [[Error | null, unknown], [Error | null, unknown]];
    if (scriptError) throw scriptError;
    if (waitError) throw waitError;
    return [reply, Number(acks)];
  };
  let outcome: [unknown, number];
  try {
    outcome = await once(true);
  } catch (e) {
    if (!(e instanceof Error) || !e.message.startsWith("NOSCRIPT")) throw e;
    outcome = await once(false); // EVAL caches it for the next EVALSHA
  }
  const [reply, acks] = outcome;
  if (typeof reply !== "string") throw new Error(`script ${script.name} replied with ${typeof reply}, not JSON`);
  if (acks < ack.minReplicas) throw new ReplicaAckError(acks, ack.minReplicas, ack.timeoutMs);
  return JSON.parse(reply) as Record<string, unknown>;
}
