// The connection limits and timeouts are configuration like any other: flags, environment, defaults,
// validation with one clear line, and --help. (Their effect is test/hardening/abuse.test.ts.)

import { describe, expect, it } from "vitest";
import { ConfigError, helpText, loadConfig, type Config } from "../../src/config/config.js";
import { defaultConnectionLimits } from "../../src/config/limits.js";

function load(argv: string[], env: NodeJS.ProcessEnv = {}): Config {
  const c = loadConfig(argv, env);
  if (c === "help") throw new Error("unexpected --help");
  return c;
}

describe("connection limits configuration", () => {
  it("defaults to the documented values", () => {
    expect(load([]).connections).toEqual(defaultConnectionLimits);
    expect(defaultConnectionLimits).toEqual({
      maxConnections: 10_000,
      maxConnectionStreams: 1_000,
      maxHeaderBytes: 16_384,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 60_000,
      idleTimeoutMs: 300_000,
      writeStallTimeoutMs: 30_000,
    });
  });

  it("reads flags and environment variables, flags first, timeouts in seconds", () => {
    const c = load(
      ["--max-connections", "50", "--headers-timeout", "2.5", "--write-stall-timeout", "0"],
      { MAX_CONNECTIONS: "7", MAX_CONNECTION_STREAMS: "64", MAX_HEADER_BYTES: "8192", REQUEST_TIMEOUT: "0", IDLE_TIMEOUT: "30" },
    );
    expect(c.connections).toEqual({
      maxConnections: 50,
      maxConnectionStreams: 64,
      maxHeaderBytes: 8192,
      headersTimeoutMs: 2500,
      requestTimeoutMs: 0,
      idleTimeoutMs: 30_000,
      writeStallTimeoutMs: 0,
    });
  });

  it("refuses values that would disable a protection or that Node would reject", () => {
    const bad: [string[], RegExp][] = [
      [["--max-connections", "0"], /--max-connections="0"/],
      [["--max-connection-streams", "-1"], /--max-connection-streams/],
      [["--max-header-bytes", "100"], /--max-header-bytes="100"/],
      [["--headers-timeout", "0"], /--headers-timeout="0"/],
      [["--idle-timeout", "soon"], /--idle-timeout="soon"/],
      // Node requires a request timeout of at least the headers timeout.
      [["--headers-timeout", "20", "--request-timeout", "10"], /--request-timeout="10": must be 0 or at least the headers timeout \(20 s\)/],
    ];
    for (const [argv, message] of bad) {
      expect(() => load(argv)).toThrow(ConfigError);
      expect(() => load(argv)).toThrow(message);
    }
  });

  it("lists every limit in --help with its environment variable", () => {
    const help = helpText();
    for (const [flag, env] of [
      ["--max-connections", "MAX_CONNECTIONS"],
      ["--max-connection-streams", "MAX_CONNECTION_STREAMS"],
      ["--max-header-bytes", "MAX_HEADER_BYTES"],
      ["--headers-timeout", "HEADERS_TIMEOUT"],
      ["--request-timeout", "REQUEST_TIMEOUT"],
      ["--idle-timeout", "IDLE_TIMEOUT"],
      ["--write-stall-timeout", "WRITE_STALL_TIMEOUT"],
    ]) {
      expect(help).toMatch(new RegExp(`${flag}\\s+${env}\\s`));
    }
  });
});
