// The well-behaved client of the abuse tests, in its own process so that an abuser's tight loop in
// the test process cannot delay it: AssignToken + ReleaseToken rounds over one HTTP/2 connection,
// one line per round on stdout ("<start ms> <end ms> <latency ms>", or "ERR <message>").
// Usage: node --import tsx test/hardening/good-client.ts <base url> <password> <pool>

import { tokenClient } from "../harness/token-client.js";
import { sleep } from "../harness/sleep.js";

const [url, password, pool] = process.argv.slice(2);
if (!url || !password || !pool) throw new Error("usage: good-client.ts <base url> <password> <pool>");
const client = tokenClient(url, password);

// The parent holds our stdin open; when it goes away, so do we.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();

for (;;) {
  const start = Date.now();
  const t0 = performance.now();
  try {
    const { lease } = await client.assignToken({ pool, owner: "good-client" });
    if (!lease) throw new Error("assign without a lease");
    await client.releaseToken({ pool, token: lease.token, generation: lease.generation });
    process.stdout.write(`${start} ${Date.now()} ${(performance.now() - t0).toFixed(3)}\n`);
  } catch (e) {
    process.stdout.write(`ERR ${start} ${String(e).replace(/\s+/g, " ")}\n`);
  }
  await sleep(5);
}
