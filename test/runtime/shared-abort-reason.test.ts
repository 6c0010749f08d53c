// The shared AbortError: a reason-less abort still yields a standard AbortError (what fetch, streams
// and connect-es check for), one shared instance; an abort with a reason keeps that reason.

import { describe, expect, it } from "vitest";
import { shareReasonlessAbortError } from "../../src/runtime/shared-abort-reason.js";

describe("shareReasonlessAbortError", () => {
  shareReasonlessAbortError();
  shareReasonlessAbortError(); // idempotent: installing twice must not wrap twice

  it("gives reason-less aborts one standard AbortError", () => {
    const a = new AbortController();
    const b = new AbortController();
    a.abort();
    b.abort(undefined);
    expect(a.signal.aborted).toBe(true);
    expect(a.signal.reason).toBeInstanceOf(DOMException);
    expect((a.signal.reason as DOMException).name).toBe("AbortError");
    expect((a.signal.reason as DOMException).message).toBe("This operation was aborted");
    expect(b.signal.reason).toBe(a.signal.reason);
    expect(() => a.signal.throwIfAborted()).toThrow(expect.objectContaining({ name: "AbortError" }));
  });

  it("keeps a given reason, and fires listeners once", () => {
    const c = new AbortController();
    let fired = 0;
    c.signal.addEventListener("abort", () => fired++);
    const reason = new Error("deadline");
    c.abort(reason);
    c.abort();
    expect(c.signal.reason).toBe(reason);
    expect(fired).toBe(1);
  });

  it("still aborts what listens: a fetch cut by a reason-less abort rejects with AbortError", async () => {
    const c = new AbortController();
    const pending = fetch("http://127.0.0.1:9/", { signal: c.signal });
    c.abort();
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
  });
});
