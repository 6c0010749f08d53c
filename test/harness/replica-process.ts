// tokenpool replicas as operators run them: child processes on a shared Redis, each on its own
// ephemeral port, plus a typed Connect client (HTTP/2, binary) for driving them from tests and benches.

import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ErrorInfoSchema } from "../../gen/es/google/rpc/error_details_pb.js";
import { TokenService } from "../../gen/es/tokenpool/v1/token_service_pb.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
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
  const child = spawn(
    process.execPath,
    [
      "--import", "tsx", "src/main.ts",
      "--store", "redis",
      "--redis-url", redisUrl,
      "--port", "0",
      "--host", "127.0.0.1",
      "--api-password", REPLICA_PASSWORD,
      "--total-tokens", "0",
      ...extra,
    ],
    { cwd: ROOT, env: { PATH: process.env.PATH ?? "" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (c: string) => (out += c));
  child.stderr!.setEncoding("utf8").on("data", (c: string) => (err += c));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const until = Date.now() + 30_000;
  for (;;) {
    const m = /listening on (http:\/\/[\d.:]+)/.exec(out);
    if (m) {
      return {
        url: m[1]!,
        child,
        exited,
        stdout: () => out,
        stderr: () => err,
        async kill() {
          child.kill("SIGKILL");
          await exited;
        },
        async stop() {
          child.kill("SIGTERM");
          await exited;
        },
      };
    }
    if (child.exitCode !== null || Date.now() > until) {
      child.kill("SIGKILL");
      throw new Error(`replica did not start: ${err}${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export type TokenClient = Client<typeof TokenService>;

export function tokenClient(baseUrl: string, password = REPLICA_PASSWORD): TokenClient {
  const auth: Interceptor = (next) => (req) => {
    req.header.set("x-api-password", password);
    return next(req);
  };
  return createClient(
    TokenService,
    createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true, interceptors: [auth] }),
  );
}

/** The ErrorInfo reason of a failed call, or its code name when it has none (transport failures). */
export function reasonOf(e: unknown): string {
  if (!(e instanceof ConnectError)) return e instanceof Error ? e.message : String(e);
  return e.findDetails(ErrorInfoSchema)[0]?.reason ?? Code[e.code];
}
