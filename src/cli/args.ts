// The CLI's command line: global options (flags win over TOKENPOOL_URL / TOKENPOOL_PASSWORD) and
// durations like 30s, 500ms, 5m.

import { parseArgs } from "node:util";
import type { Protocol } from "../client/node.js";

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface Parsed {
  readonly url: string;
  readonly password: string;
  readonly protocol: Protocol;
  readonly json: boolean;
  readonly positionals: string[];
  readonly flags: Readonly<Record<string, string | boolean | undefined>>;
}

const OPTIONS = {
  url: { type: "string" },
  password: { type: "string" },
  protocol: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  // command options
  "lease-ttl": { type: "string" },
  "idle-ttl": { type: "string" },
  "max-tokens": { type: "string" },
  tokens: { type: "string" },
  count: { type: "string" },
  owner: { type: "string" },
  ttl: { type: "string" },
  wait: { type: "string" },
  for: { type: "string" },
  "request-id": { type: "string" },
  generation: { type: "string" },
  after: { type: "string" },
  "page-size": { type: "string" },
} as const;

export function parse(argv: readonly string[], env: NodeJS.ProcessEnv): Parsed {
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const protocol = values.protocol ?? "connect";
  if (protocol !== "connect" && protocol !== "grpc" && protocol !== "grpc-web") throw new UsageError(`--protocol must be connect, grpc or grpc-web, not ${protocol}`);
  if (values.help) positionals = ["help"];
  return {
    url: values.url ?? env.TOKENPOOL_URL ?? "http://127.0.0.1:8080",
    password: values.password ?? env.TOKENPOOL_PASSWORD ?? "",
    protocol,
    json: values.json === true,
    positionals,
    flags: values,
  };
}

/** "30s", "500ms", "5m", "1h", or a bare number of seconds → milliseconds. */
export function durationArg(name: string, text: string | boolean | undefined): number | undefined {
  if (text === undefined || typeof text === "boolean") return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new UsageError(`--${name}: not a duration: ${text} (e.g. 30s, 500ms, 5m)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "s"]!;
  return Math.round(Number(m[1]) * unit);
}

export function intArg(name: string, text: string | boolean | undefined): number | undefined {
  if (text === undefined || typeof text === "boolean") return undefined;
  if (!/^\d+$/.test(text)) throw new UsageError(`--${name}: not a whole number: ${text}`);
  return Number(text);
}

export const USAGE = `usage: tokenpool [--url URL] [--password PW] [--protocol connect|grpc|grpc-web] [--json] COMMAND

  pools ls [--page-size N]
  pools create NAME [--lease-ttl 30s] [--idle-ttl 5m] [--max-tokens N] [--tokens N]
  pools get NAME
  pools rm NAME
  tokens gen POOL (--count N | ID...)
  tokens get POOL TOKEN
  tokens rm POOL TOKEN
  tokens cordon|uncordon POOL TOKEN   take a token out of service (its lease runs on) / put it back
  tokens drain POOL TOKEN [--wait 5m]  cordon, then wait until its lease ends (exit 1 if still held)
  assign POOL [--owner NAME] [--ttl 30s] [--wait 10s] [--for 30s] [--request-id ID]
      prints the lease, keeps it alive until Ctrl-C (or --for), then releases it
  release POOL TOKEN [--generation N] [--owner NAME]
  watch POOL [--after SEQ] [--for 30s]   one line per event (--json: NDJSON) until Ctrl-C (or --for)

  --url defaults to $TOKENPOOL_URL or http://127.0.0.1:8080; --password to $TOKENPOOL_PASSWORD.
  Errors print the code, reason and message and exit 1 (2 for a bad command line).`;
