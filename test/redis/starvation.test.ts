// The starvation rule under contention (issue 18): blocked assigns take freed tokens first, strictly
// FIFO across replicas, so a caller that does not wait keeps getting POOL_EXHAUSTED while others are
// queued. It is told so (ErrorInfo metadata `waiters`, message), and /metrics counts it by cause.

import { ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/es/google/rpc/error_details_pb.js";
import { startTestReplicas, type TestReplicas } from "../harness/server.js";
import { sleep } from "../harness/sleep.js";
import { tokenClient } from "../harness/token-client.js";

const POOL = "contended";
const LOAD_MS = 2500;

const sample = (text: string, name: string, labels: string): number => {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(" ").pop()) : 0;
};

describe("redis store × waiters and non-waiting assigns competing for tokens", () => {
  let replicas: TestReplicas;

  beforeAll(async () => {
    replicas = await startTestReplicas(2);
  }, 60_000);

  afterAll(async () => {
    await replicas?.close();
  });

  it("gives freed tokens to the queue and tells the non-waiting caller why, in its error and in metrics", async () => {
    const [r0, r1] = replicas.replicas as [(typeof replicas.replicas)[0], (typeof replicas.replicas)[0]];
    const waiting = tokenClient(r0.url, r0.password, "connect");
    const eager = tokenClient(r1.url, r1.password, "connect");
    await waiting.createPool({ name: POOL, initialTokens: 2, leaseTtl: { seconds: 60n }, idleTtl: { seconds: 0n } });
    const scrape = async (): Promise<string> => (await fetch(`${r1.url}/metrics`)).text();
    const before = await scrape();

    let stop = false;
    let waiterLeases = 0;
    // Four callers that queue (on replica 0) and hold each token briefly: the pool is always contended.
    const waiters = Array.from({ length: 4 }, async (_, i) => {
      while (!stop) {
        const { lease } = await waiting.assignToken({ pool: POOL, owner: `w${i}`, waitTimeout: { seconds: 5n } });
        waiterLeases++;
        await sleep(15);
        await waiting.releaseToken({ pool: POOL, token: lease!.token, generation: lease!.generation });
      }
    });
    // One caller that never waits, on replica 1.
    const told = { queued: 0, empty: 0, ok: 0, other: [] as string[] };
    const deadline = Date.now() + LOAD_MS;
    while (Date.now() < deadline) {
      try {
        const { lease } = await eager.assignToken({ pool: POOL, owner: "eager" });
        told.ok++;
        await eager.releaseToken({ pool: POOL, token: lease!.token, generation: lease!.generation });
      } catch (e) {
        const info = e instanceof ConnectError ? e.findDetails(ErrorInfoSchema)[0] : undefined;
        if (info?.reason !== "POOL_EXHAUSTED") told.other.push(String(e));
        else if (Number(info.metadata.waiters) > 0 && (e as ConnectError).rawMessage.includes("queued and take freed tokens first")) told.queued++;
        else if (info.metadata.waiters === "0") told.empty++;
        else told.other.push(`POOL_EXHAUSTED without the queue: ${(e as ConnectError).rawMessage} ${JSON.stringify(info.metadata)}`);
      }
    }
    stop = true;
    await Promise.all(waiters);
    const after = await scrape();
    const delta = (cause: string): number =>
      sample(after, "tokenpool_assign_exhausted_total", `cause="${cause}"`) - sample(before, "tokenpool_assign_exhausted_total", `cause="${cause}"`);

    console.log(`starvation: waiters got ${waiterLeases} leases; the non-waiting caller got ${told.ok}, was told "waiters queued" ${told.queued} times, "none free" ${told.empty} times`);
    expect(told.other).toEqual([]);
    expect(waiterLeases).toBeGreaterThan(20);
    // The rule: while waiters are queued the eager caller is refused, and told it is because of them.
    expect(told.queued).toBeGreaterThan(10);
    expect(told.queued).toBeGreaterThan(told.ok);
    // Metrics count exactly what replica 1 answered.
    expect(delta("waiters_queued")).toBe(told.queued);
    expect(delta("no_free_token")).toBe(told.empty);
  }, 60_000);
});
