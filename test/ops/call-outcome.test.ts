// The outcome hook the metrics and request-log interceptors share: codes in Connect's spelling, and a
// stream reported only when it ends.

import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { codeName, observeCall } from "../../src/ops/call-outcome.js";

describe("call outcome", () => {
  it("spells every status code as the Connect protocol does", () => {
    const names = Array.from({ length: 17 }, (_, code) => codeName(code));
    expect(names).toEqual([
      "ok", "canceled", "unknown", "invalid_argument", "deadline_exceeded", "not_found", "already_exists",
      "permission_denied", "resource_exhausted", "failed_precondition", "aborted", "out_of_range",
      "unimplemented", "internal", "unavailable", "data_loss", "unauthenticated",
    ]);
  });

  it("reports a stream when its last message has gone, and a failure mid-stream once", async () => {
    const seen: string[] = [];
    const outcome = { ok: () => seen.push("ok"), failed: (e: unknown) => (seen.push(`failed ${ConnectError.from(e).code}`), e) };
    const stream = (fail: boolean) => async () =>
      ({
        stream: true,
        message: (async function* () {
          yield 1;
          if (fail) throw new ConnectError("gone", Code.Unavailable);
          yield 2;
        })(),
      }) as never;
    const ok = await observeCall(stream(false), outcome);
    expect(seen).toEqual([]);
    for await (const _ of (ok as unknown as { message: AsyncIterable<number> }).message);
    expect(seen).toEqual(["ok"]);
    const bad = await observeCall(stream(true), outcome);
    await expect(async () => {
      for await (const _ of (bad as unknown as { message: AsyncIterable<number> }).message);
    }).rejects.toThrow("gone");
    expect(seen).toEqual(["ok", `failed ${Code.Unavailable}`]);
  });
});
