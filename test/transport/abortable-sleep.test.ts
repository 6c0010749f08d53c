// Long-lived streams sleep in loops; their timers must not pile listeners onto the call's signal.

import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { abortableSleep, sleepFor } from "../../src/transport/connect/abortable-sleep.js";

describe("abortable sleep", () => {
  it("leaves no abort listener behind after many turns of a loop", async () => {
    const call = new AbortController();
    for (let i = 0; i < 50; i++) await abortableSleep(0, call.signal);
    expect(getEventListeners(call.signal, "abort")).toHaveLength(0);
  });

  it("drops the listener and the timer of a sleep that lost a race", async () => {
    const call = new AbortController();
    for (let i = 0; i < 50; i++) {
      const sleep = sleepFor(60_000, call.signal);
      await Promise.race([Promise.resolve(), sleep.done]);
      sleep.cancel();
      await sleep.done; // cancel ends it: a lingering 60 s timer would hang this test
    }
    expect(getEventListeners(call.signal, "abort")).toHaveLength(0);
  });

  it("ends at once when the call is cancelled", async () => {
    const call = new AbortController();
    const started = performance.now();
    const sleeping = abortableSleep(60_000, call.signal);
    call.abort();
    await sleeping;
    expect(performance.now() - started).toBeLessThan(1000);
    expect(getEventListeners(call.signal, "abort")).toHaveLength(0);
  });
});
