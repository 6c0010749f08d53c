// The main comparison: tokenpool (memory, lmdb, redis) against the Connect floor, RPC by RPC, in
// rounds interleaved row by row (order flipped each round) so a noisy neighbour hits every server alike.

import { ASSIGN_POOL, type Rpc } from "./bodies.js";
import type { Measurer, Protocol, Row } from "./measure.js";
import type { PairProtocol } from "./pair-driver.js";
import { logRow, log } from "./progress.js";
import type { Running } from "./servers.js";
import type { PoolSetup } from "./setup.js";

export interface Contender {
  readonly server: Running;
  /** Pool setup for tokenpool servers; undefined for the floor. */
  readonly setup: PoolSetup | undefined;
  /** Rounds this server takes part in (redis: the first only, to keep the bench under 10 minutes). */
  readonly rounds: number;
  /** Protocols it is measured on (the stores other than memory: gRPC only). */
  readonly protocols: readonly Protocol[];
}

type Measured = Rpc | "pairs";
const RPCS: readonly Measured[] = ["assign", "ka1", "ka100", "pairs"];
const PROTOCOLS = ["grpc", "connect-proto", "connect-json"] as const;

export async function throughputRounds(m: Measurer, contenders: readonly Contender[], rounds: number, freeNeeded: number): Promise<Row[]> {
  const rows: Row[] = [];
  for (let round = 1; round <= rounds; round++) {
    log(`round ${round}/${rounds}`);
    for (const protocol of PROTOCOLS) {
      for (const rpc of RPCS) {
        const here = contenders.filter((c) => c.rounds >= round && c.protocols.includes(protocol));
        const ordered = round % 2 === 1 ? here : [...here].reverse();
        for (const c of ordered) {
          if (rpc === "assign") await c.setup?.ensureFree(freeNeeded);
          const tokenpool = c.setup !== undefined;
          const row =
            rpc === "pairs"
              ? await m.pairs(c.server, protocol as PairProtocol, ASSIGN_POOL, round, tokenpool)
              : await m.rpc(c.server, protocol, rpc, round, tokenpool);
          rows.push(logRow(row));
        }
      }
    }
  }
  return rows;
}
