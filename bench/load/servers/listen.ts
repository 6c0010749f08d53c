// Shared by the baseline servers: where to listen (argv: --port, --host) and the start-up line the
// bench waits for, in the same words tokenpool logs.

import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";

export function listenOptions(): { host: string; port: number } {
  const { values } = parseArgs({ options: { port: { type: "string", default: "0" }, host: { type: "string", default: "127.0.0.1" } }, strict: false });
  return { host: String(values.host), port: Number(values.port) };
}

export function announce(address: AddressInfo): void {
  process.stdout.write(`listening on http://${address.address}:${address.port}\n`);
}
