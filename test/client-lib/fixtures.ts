// Shared bits of the client-library tests: a server process, a fresh pool, metrics counters.

import { startServer, type ServerProcess } from "../harness/server-process.js";
import { createTokenPoolClient, type TokenPoolClient, type TokenPoolClientOptions } from "../../src/client/node.js";

export const PASSWORD = "client-test-password-8d1e";

export function serverProcess(args: readonly string[] = []): Promise<ServerProcess> {
  return startServer(["--api-password", PASSWORD, "--store", "memory", "--log-level", "info", "--shutdown-grace", "1", ...args]);
}

export function client(url: string, extra: Partial<TokenPoolClientOptions> = {}): TokenPoolClient {
  return createTokenPoolClient({ baseUrl: url, password: PASSWORD, protocol: "grpc", ...extra });
}

export async function freshPool(c: TokenPoolClient, tokens: number, leaseTtlMs: number): Promise<string> {
  const name = `p-${Math.random().toString(36).slice(2, 10)}`;
  await c.service.createPool({ name, initialTokens: tokens, leaseTtl: { seconds: BigInt(Math.floor(leaseTtlMs / 1000)), nanos: (leaseTtlMs % 1000) * 1e6 } });
  return name;
}

/** tokenpool_rpc_total for one method, summed over codes, read from the server's /metrics. */
export async function rpcCount(url: string, method: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(/^tokenpool_rpc_total\{([^}]*)\} (\d+)/gm)) if (m[1]!.includes(`method="${method}"`)) sum += Number(m[2]);
  return sum;
}

export { sleep } from "../harness/sleep.js";
