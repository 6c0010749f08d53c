// Runs h2load (nghttp2) for HTTP/2 load and reads its summary. It cannot see gRPC trailers, so gRPC
// failures are checked by a probe call and counted from tokenpool's metrics (see measure.ts).

import { runTool } from "./tool-run.js";

export interface H2loadOptions {
  readonly url: string;
  readonly bodyFile: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly connections: number;
  readonly streams: number;
  readonly seconds: number;
  /** Requests per second per connection (h2load --rps); flat out when absent. */
  readonly ratePerConnection?: number;
}

export interface LoadResult {
  /** Responses received in the measured time. */
  readonly requests: number;
  /** Responses that were not HTTP 2xx, plus requests that failed at the transport. */
  readonly errors: number;
  readonly rps: number;
  readonly meanMs: number | undefined;
}

const num = (text: string, re: RegExp): number => {
  const m = re.exec(text);
  if (!m) throw new Error(`unexpected h2load output (no ${re}):\n${text.slice(-1500)}`);
  return Number(m[1]);
};

/** One timed h2load run; `-t 1`: one client thread, so the client takes at most one core. */
export async function h2load(o: H2loadOptions): Promise<LoadResult> {
  const args = ["-t", "1", "-c", String(o.connections), "-m", String(o.streams), "-D", String(o.seconds), "-d", o.bodyFile];
  if (o.ratePerConnection !== undefined) args.push(`--rps=${o.ratePerConnection}`);
  for (const [name, value] of Object.entries(o.headers)) args.push("-H", `${name}: ${value}`);
  args.push(o.url);
  const out = await runTool("h2load", args);
  const done = num(out, /requests: \d+ total, \d+ started, (\d+) done/);
  const failed = num(out, /(\d+) failed/);
  const errored = num(out, /(\d+) errored/);
  const non2xx = num(out, /status codes: \d+ 2xx, (\d+) 3xx/) + num(out, /(\d+) 4xx/) + num(out, /(\d+) 5xx/);
  const meanUs = /time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)\s/.exec(out);
  const scale = { us: 0.001, ms: 1, s: 1000 } as const;
  return {
    requests: done,
    errors: failed + errored + non2xx,
    rps: num(out, /finished in [\d.]+s, ([\d.]+) req\/s/),
    meanMs: meanUs ? Number(meanUs[1]) * scale[meanUs[2] as keyof typeof scale] : undefined,
  };
}
