// A Lua script run by SHA (EVALSHA), falling back to EVAL — which also caches it — when Redis answers
// NOSCRIPT (first use, after a restart or a failover). Replies are JSON text decoded here.

import { createHash } from "node:crypto";
import type { RedisClient } from "./connection.js";

export class LuaScript {
  readonly sha: string;

  constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }

  async run(client: RedisClient, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    // One flat array: GenerateTokens may pass 100k ids, too many for spread arguments.
    const params = [...keys, ...args.map(String)];
    try {
      return await client.evalsha(this.sha, keys.length, params);
    } catch (e) {
      if (!(e instanceof Error) || !e.message.startsWith("NOSCRIPT")) throw e;
      return client.eval(this.source, keys.length, params);
    }
  }

  /** Runs a script that replies with cjson.encode(...). */
  async json(client: RedisClient, keys: readonly string[], args: readonly (string | number)[]): Promise<Record<string, unknown>> {
    const reply = await this.run(client, keys, args);
    if (typeof reply !== "string") throw new Error(`script ${this.name} replied with ${typeof reply}, not JSON`);
    return JSON.parse(reply) as Record<string, unknown>;
  }
}
