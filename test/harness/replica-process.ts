// tokenpool replicas as operators run them: child processes on a shared Redis, each on its own
// ephemeral port, plus a typed Connect client (HTTP/2, binary) for driving them from tests and benches.

import type { ChildProcess } from "node:child_process";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/es/google/rpc/error_details_pb.js";
import { startServer } from "./server-process.js";
import { tokenClient, type TokenClient } from "./token-client.js";

export const REPLICA_PASSWORD = "replica-test-password";

export interface Replica {
  readonly url: string;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  stdout(): string;
  stderr(): string;
  /** SIGKILL: no graceful shutdown, as a crash or an OOM kill. */
  kill(): Promise<void>;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
}

export async function startReplica(redisUrl: string, extra: readonly string[] = []): Promise<Replica> {
  const s = await startServer(
    ["--store", "redis", "--redis-url", redisUrl, "--api-password", REPLICA_PASSWORD, "--total-tokens", "0", ...extra],
    30_000,
  );
  return {
    url: s.url,
    child: s.child,
    exited: s.exited.then(() => undefined),
    stdout: s.stdout,
    stderr: s.stderr,
    async kill() {
      await s.kill9();
    },
    async stop() {
      await s.stop();
    },
  };
}

export type { TokenClient };

/** A replica's client: Connect binary over HTTP/2, with the replicas' password. */
export const replicaClient = (baseUrl: string, password = REPLICA_PASSWORD): TokenClient => tokenClient(baseUrl, password, "connect");

/** The ErrorInfo reason of a failed call, or its code name when it has none (transport failures). */
export function reasonOf(e: unknown): string {
  if (!(e instanceof ConnectError)) return e instanceof Error ? e.message : String(e);
  return e.findDetails(ErrorInfoSchema)[0]?.reason ?? Code[e.code];
}
