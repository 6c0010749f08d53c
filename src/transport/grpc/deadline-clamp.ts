// grpc-js 1.14 turns a grpc-timeout into milliseconds with `| 0`, so any deadline past 2^31 ms
// (24.8 days; "99999999H", or the "2562047H" some clients send for "no deadline") wraps to a small or
// negative number and the call fails DEADLINE_EXCEEDED at once; and its pattern is unanchored, so an
// invalid value ("100000000S", "-1S") is read as a valid piece of itself ("00000000S", "1S"). Before
// grpc-js reads a request's headers, an overflowing timeout is clamped to the longest it handles and
// an invalid one is dropped (no deadline, as connect-node treats it), on the engine's HTTP/2 server
// (injector-server.ts; where grpc-js's internals moved, the overflow stays, as in stock grpc-js).

import type http2 from "node:http2";

const TIMEOUT = /^(\d{1,8})([HMSmun])$/;
const MS_PER_UNIT: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };
/** 2^31 - 1 ms, in seconds and 8 digits at most (grpc-js reads at most 8). */
const LONGEST = "2147483S";

/** The timeout grpc-js should see for this header value (undefined: none): unchanged when valid and in range. */
export function clampedTimeout(value: string): string | undefined {
  // The spec's form exactly: 1-8 digits and a unit, nothing else.
  const m = TIMEOUT.exec(value);
  if (m === null) return undefined;
  return Number(m[1]) * MS_PER_UNIT[m[2]!]! > 2 ** 31 - 1 ? LONGEST : value;
}

/** Installs the clamp on the HTTP/2 server behind a grpc-js connection injector (injector-server.ts). */
export function clampDeadlines(h2: http2.Http2Server): void {
  h2.prependListener("stream", (_stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    const value = headers["grpc-timeout"];
    if (typeof value !== "string") return;
    const timeout = clampedTimeout(value);
    if (timeout === undefined) delete headers["grpc-timeout"];
    else headers["grpc-timeout"] = timeout;
  });
}
