// The keep-alive loop's batching without a server: one call per round up to the server's batch
// limit, split past it, and a lower limit learned from the server's INVALID_ARGUMENT.

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { PoolKeeper, SERVER_BATCH_LIMIT } from "../../src/client/keep-alive.js";
import { HeldLease } from "../../src/client/lease.js";
import { monotonicNow } from "../../src/client/timing.js";
import { KeepAliveResponseSchema, KeepAliveStatus, LeaseSchema } from "../../gen/es/tokenpool/v1/token_service_pb.js";

const hooks = { onEnd: () => undefined, releaseRemote: async () => undefined };

function leases(n: number): HeldLease[] {
  return Array.from({ length: n }, (_, i) => new HeldLease(create(LeaseSchema, { pool: "p", token: `t${i}`, owner: "o", generation: 1n }), 60_000, 1000, monotonicNow(), hooks));
}

function answering(calls: string[][], limit = Infinity) {
  return async (_pool: string, tokens: string[]) => {
    calls.push(tokens);
    if (tokens.length > limit) throw new ConnectError(`tokens: at most ${limit} token ids per call`, Code.InvalidArgument);
    return create(KeepAliveResponseSchema, {
      results: tokens.map((token) => ({ token, status: KeepAliveStatus.OK, lease: { pool: "p", token, owner: "o", generation: 1n } })),
    });
  };
}

describe("PoolKeeper batching", () => {
  it("renews 25 000 leases in three calls split at the server's limit", async () => {
    const calls: string[][] = [];
    const keeper = new PoolKeeper("p", answering(calls), 1 / 3);
    const all = leases(25_000);
    const before = all.map((l) => l.validUntil);
    expect(await keeper.renew(all)).toBe(true);
    expect(calls.map((c) => c.length)).toEqual([SERVER_BATCH_LIMIT, SERVER_BATCH_LIMIT, 5000]);
    expect(new Set(calls.flat()).size).toBe(25_000);
    expect(all.every((l, i) => l.validUntil >= before[i]!)).toBe(true);
    for (const l of all) l.lose("released", "test over");
  });

  it("halves its batch when a server with a lower limit refuses it, then passes", async () => {
    const calls: string[][] = [];
    const keeper = new PoolKeeper("p", answering(calls, 3000), 1 / 3);
    const all = leases(8000);
    expect(await keeper.renew(all)).toBe(false); // 8000 > 3000: refused
    expect(await keeper.renew(all)).toBe(false); // 4000 > 3000: refused
    expect(await keeper.renew(all)).toBe(true); // 2000-token batches pass
    expect(calls.slice(-4).map((c) => c.length)).toEqual([2000, 2000, 2000, 2000]);
    for (const l of all) l.lose("released", "test over");
  });
});
