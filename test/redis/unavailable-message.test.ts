// What an UNAVAILABLE answer tells the caller about a failed Redis call: surely not applied, or maybe
// applied (retry with the same request id). The texts come from ioredis and from the store itself.

import { describe, expect, it } from "vitest";
import { unavailableMessage } from "../../src/store/redis/connection.js";
import { RedisLateError, RedisTimeoutError } from "../../src/store/redis/deadline.js";

const where = "redis://127.0.0.1:6379";

describe("unavailableMessage", () => {
  it("says a call refused before or at Redis was not applied", () => {
    for (const e of [
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
      new RedisLateError(),
      new Error("All keys in the pipeline should belong to the same slots allocation group"),
    ]) {
      expect(unavailableMessage(e, where)).toMatch(/the call was not applied$|it was not applied$/);
    }
  });

  it("says a call that timed out may or may not have been applied", () => {
    expect(unavailableMessage(new RedisTimeoutError(1000), where)).toMatch(/may or may not have been applied/);
    expect(unavailableMessage(new Error("Command timed out"), where)).toMatch(/may or may not have been applied/);
  });
});
