// The lmdb data dir as an operator meets it: a second server on the same dir, a damaged data file, and
// a lock left behind by a killed server. Refusals are one line on stderr and a non-zero exit.

import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { duration, tokenClient } from "../harness/token-client.js";
import { ROOT, runServer, startServer, type ServerProcess } from "../harness/server-process.js";
import { LOCK_FILE } from "../../src/store/lmdb/data-dir-lock.js";
import { DATA_FILE } from "../../src/store/lmdb/lmdb-env.js";

const dirs: string[] = [];
const servers: ServerProcess[] = [];

afterEach(() => {
  for (const s of servers.splice(0)) s.child.kill("SIGKILL");
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "tokenpool-lmdb-proc-"));
  dirs.push(d);
  return d;
}

const args = (dir: string): string[] => ["--port", "0", "--host", "127.0.0.1", "--store", "lmdb", "--data-dir", dir, "--api-password", "pw"];

async function refusal(dir: string): Promise<{ code: number | null; lines: string[] }> {
  const p = runServer(args(dir));
  const code = await p.exited;
  // What a person reads: the log's JSON lines (also on stderr) aside.
  return { code, lines: p.stderr().trim().split("\n").filter((l) => !l.startsWith("{")) };
}

describe("lmdb data dir, as a process", () => {
  it("refuses a second server on the same data dir", async () => {
    const dir = tempDir();
    const first = await startServer(["--store", "lmdb", "--data-dir", dir, "--api-password", "pw"]);
    servers.push(first);
    const second = await refusal(dir);
    expect(second.code).toBe(1);
    expect(second.lines).toHaveLength(1);
    expect(second.lines[0]).toMatch(new RegExp(`^tokenpool: cannot start: data dir .* is in use by another tokenpool process \\(pid ${first.child.pid}`));
  }, 60_000);

  it("refuses a damaged data file with one line instead of starting empty", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, DATA_FILE), Buffer.alloc(32 * 1024, 0xab));
    const refused = await refusal(dir);
    expect(refused.code).toBe(1);
    expect(refused.lines).toHaveLength(1);
    expect(refused.lines[0]).toMatch(/^tokenpool: cannot start: .*tokenpool\.mdb is not a valid lmdb file .*refusing to start/);
  }, 60_000);

  it("takes over a lock left by a process that is gone", async () => {
    const dir = tempDir();
    // A pid that certainly belonged to a process which has exited.
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout;
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: Number(dead), start: "1" }) + "\n");
    const server = await startServer(["--store", "lmdb", "--data-dir", dir, "--api-password", "pw"]);
    servers.push(server);
    expect(await server.stop()).toBe(0);
  }, 60_000);

  it("backs up a running server's data dir, and the copy restores its state", async () => {
    const dir = tempDir();
    const server = await startServer(["--store", "lmdb", "--data-dir", dir, "--api-password", "pw"]);
    servers.push(server);
    const client = tokenClient(server.url, "pw");
    await client.createPool({ name: "kept", leaseTtl: duration(600_000), initialTokens: 5 });
    const lease = (await client.assignToken({ pool: "kept", owner: "holder" })).lease!;
    // Writes keep landing while the copy runs.
    const writing = (async () => {
      for (let i = 0; i < 50; i++) await client.generateTokens({ pool: "kept", count: 1 });
    })();
    const backup = join(tempDir(), "backup.mdb");
    const copied = spawnSync(process.execPath, ["--import", "tsx", "scripts/lmdb-backup.ts", dir, backup], { cwd: ROOT, encoding: "utf8" });
    expect(copied.status, copied.stderr).toBe(0);
    await writing;

    const restored = tempDir();
    copyFileSync(backup, join(restored, DATA_FILE));
    const second = await startServer(["--store", "lmdb", "--data-dir", restored, "--api-password", "pw"]);
    servers.push(second);
    const fromBackup = tokenClient(second.url, "pw");
    const token = await fromBackup.getToken({ pool: "kept", token: lease.token });
    expect(token.lease?.owner).toBe("holder");
    expect(token.lease?.generation).toBe(lease.generation);
    const pool = (await fromBackup.getPool({ name: "kept" })).pool!;
    expect(pool.total).toBeGreaterThanOrEqual(5);
    expect(pool.total).toBeLessThanOrEqual(55);
  }, 60_000);
});
