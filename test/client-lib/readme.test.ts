// The README's client-library and CLI examples, run as written against a real server process, so
// they cannot rot: the TypeScript one imports "tokenpool/client" (the package's own export), the
// shell one runs `npx tokenpool` line by line.

import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, type ServerProcess } from "../harness/server-process.js";
import type { TokenPoolClient } from "../../src/client/node.js";
import { client, PASSWORD, serverProcess } from "./fixtures.js";
import { clientExamples, sectionBlocks } from "./readme-blocks.js";

const run = promisify(execFile);

let s: ServerProcess;
let admin: TokenPoolClient;
let env: NodeJS.ProcessEnv;
// Inside the repository, so the example's "tokenpool/client" resolves to this package (self-reference).
const dir = mkdtempSync(join(ROOT, "test", "client-lib", ".readme-"));
beforeAll(async () => {
  s = await serverProcess();
  admin = client(s.url);
  env = { PATH: process.env.PATH, TOKENPOOL_URL: s.url, TOKENPOOL_PASSWORD: PASSWORD };
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await admin?.close();
  await s?.stop();
});

describe("README: Client library and CLI", () => {
  const blocks = sectionBlocks("Client library and CLI");

  it("has a Node and a browser TypeScript example (browser.test.ts runs that one) and one shell example", () => {
    expect(clientExamples().count).toBe(2);
    expect(blocks.sh).toHaveLength(1);
  });

  it("runs the TypeScript example: work outlasting the TTL keeps its lease, then it is released", async () => {
    const file = join(dir, "example.ts");
    writeFileSync(file, clientExamples().node);
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", file], { cwd: ROOT, env, timeout: 60_000 });
    expect(stderr).not.toContain("lost it");
    expect(stdout).toMatch(/^step 0 with (\S+) \(generation 1\)\n/);
    expect(stdout).toMatch(/step 4 with \S+ \(generation 1\)\n/); // 5 s of work on a 2 s TTL
    const events = stdout.split("\n").filter((l) => /^\d+ [A-Z_]+ /.test(l));
    const types = events.map((l) => l.split(" ")[1]);
    expect(types[0]).toBe("GENERATED");
    expect(types).toContain("ASSIGNED");
    expect(types.filter((t) => t === "RENEWED").length).toBeGreaterThanOrEqual(3);
    expect(types.at(-1)).toBe("RELEASED");
    const pool = await admin.service.getPool({ name: "readme-gpus" });
    expect(pool.pool).toMatchObject({ total: 2, held: 0 });
  }, 60_000);

  it("runs the shell example with npx tokenpool", async () => {
    const { stdout, stderr } = await run("bash", ["-e", "-o", "pipefail", "-c", blocks.sh![0]!], { cwd: ROOT, env, timeout: 120_000 });
    expect(stdout).toMatch(/^NAME +TOTAL.*\nreadme-cli +1 +1 /);
    expect(stdout).toContain("gpu-7\ngpu-8\n(3 available)\n");
    expect(stdout).toMatch(/readme-cli +\S+ +job-42 +1 +\d{4}-/); // the lease table
    expect(stdout).toMatch(/released \S+ \(generation 1\)/);
    expect(stdout).toContain('"token":"gpu-7","state":"TOKEN_STATE_FREE"');
    expect(stdout).toMatch(/\n\d+ +\S+ +ASSIGNED +\S+ +job-42 +gen 1\n/);
    expect(stderr).toContain('NOT_FOUND POOL_NOT_FOUND: pool "nope" not found');
    expect(stdout).toContain("exit 1\n");
    expect(stdout).toContain("deleted pool readme-cli\n");
  }, 150_000);
});
