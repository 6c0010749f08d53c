// The wire contract stays backwards compatible: `buf breaking` (FILE rules) against the released copy
// in .ci/released-proto passes, and the same check does fail on a change that breaks clients.

import { execFile } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const buf = join(process.cwd(), "node_modules/.bin/buf");
const scratch: string[] = [];

async function breaking(input: string): Promise<{ code: number; out: string }> {
  try {
    await run(buf, ["breaking", input, "--against", ".ci/released-proto"], { cwd: process.cwd() });
    return { code: 0, out: "" };
  } catch (e) {
    const failure = e as { code?: number; stdout?: string };
    return { code: failure.code ?? -1, out: failure.stdout ?? "" };
  }
}

afterAll(async () => {
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
});

describe("proto compatibility", () => {
  it("proto/ is wire compatible with the released contract", async () => {
    expect(await breaking("proto")).toEqual({ code: 0, out: "" });
  }, 30_000);

  it("a field type change is reported as breaking", async () => {
    const dir = await mkdtemp(join(tmpdir(), "proto-break-"));
    scratch.push(dir);
    await cp("proto", dir, { recursive: true });
    const file = join(dir, "tokenpool/v1/token_service.proto");
    const text = await readFile(file, "utf8");
    expect(text).toContain("uint32 total = 5;");
    await writeFile(file, text.replace("uint32 total = 5;", "uint64 total = 5;"));
    const r = await breaking(dir);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('changed type from "uint32" to "uint64"');
  }, 30_000);
});
