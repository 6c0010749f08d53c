// Runs wrk for HTTP/1.1 load (Connect JSON, legacy routes, Flask) and reads its summary; it gets as many
// connections as h2load has streams in flight, since HTTP/1.1 carries one request per connection.

import { fileURLToPath } from "node:url";
import type { LoadResult } from "./h2load.js";
import { runTool } from "./tool-run.js";

const POST_SCRIPT = fileURLToPath(new URL("./wrk/post.lua", import.meta.url));

export interface WrkOptions {
  readonly url: string;
  /** POST this file's bytes; GET when absent. */
  readonly bodyFile?: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly connections: number;
  readonly seconds: number;
}

const num = (text: string, re: RegExp, fallback?: number): number => {
  const m = re.exec(text);
  if (!m) {
    if (fallback !== undefined) return fallback;
    throw new Error(`unexpected wrk output (no ${re}):\n${text.slice(-1500)}`);
  }
  return Number(m[1]);
};

export async function wrk(o: WrkOptions): Promise<LoadResult> {
  // wrk counts an answer slower than its 2 s default timeout as an error and drops it; a loaded server
  // on two shared cores can take that long in its tail, and a late answer is still an answer.
  const args = ["-t", "1", "-c", String(o.connections), "-d", `${o.seconds}s`, "--timeout", "10s", "--latency"];
  const headerLines = Object.entries(o.headers).map(([n, v]) => `${n}: ${v}`);
  if (o.bodyFile) args.push("-s", POST_SCRIPT, o.url, "--", o.bodyFile, ...headerLines);
  else {
    for (const h of headerLines) args.push("-H", h);
    args.push(o.url);
  }
  const out = await runTool("wrk", args);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const latency = /Latency\s+([\d.]+)(us|ms|s)\s/.exec(out);
  const scale = { us: 0.001, ms: 1, s: 1000 } as const;
  return {
    requests: num(out, /(\d+) requests in/),
    errors: num(out, /Non-2xx or 3xx responses: (\d+)/, 0) + (socketErrors ? socketErrors.slice(1).reduce((n, x) => n + Number(x), 0) : 0),
    rps: num(out, /Requests\/sec:\s+([\d.]+)/),
    meanMs: latency ? Number(latency[1]) * scale[latency[2] as keyof typeof scale] : undefined,
  };
}
