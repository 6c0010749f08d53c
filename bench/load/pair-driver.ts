// AssignToken, then ReleaseToken of the lease it returned, in closed loops (h2load and wrk send fixed
// bodies); a thin node:http2 / node:http client with hand-rolled framing keeps its CPU per call low.

import http from "node:http";
import http2 from "node:http2";
import { envelope } from "../../test/harness/envelope.js";
import { rpcPath, SERVICE_PATH } from "./bodies.js";
import { encodeFields, forEachField, text } from "./protobuf-fields.js";

export type PairProtocol = "grpc" | "connect-proto" | "connect-json";

export interface PairOptions {
  readonly url: string;
  readonly protocol: PairProtocol;
  readonly password: string;
  readonly pool: string;
  readonly owner: string;
  /** HTTP/2 connections (streams share them); for HTTP/1.1, connections × streams sockets. */
  readonly connections: number;
  readonly streams: number;
  readonly seconds: number;
}

export interface PairResult {
  readonly pairs: number;
  readonly errors: number;
  readonly seconds: number;
  readonly firstError: string | undefined;
}

interface Reply {
  readonly ok: boolean;
  readonly body: Buffer;
  readonly detail: string;
}

/** One unary call: request bytes in, reply bytes out, success judged per protocol. */
type Call = (path: string, body: Buffer) => Promise<Reply>;

interface Lease {
  readonly token: string;
  readonly generation: number;
}

const RELEASE_PATH = `${SERVICE_PATH}/ReleaseToken`;

/** The lease of an AssignTokenResponse (binary); empty when the server sent none (the floor). */
function leaseFromBinary(message: Uint8Array): Lease {
  let token = "";
  let generation = 0;
  forEachField(message, 0, message.length, (num, _len, bytes) => {
    if (num !== 1 || !bytes) return;
    forEachField(bytes, 0, bytes.length, (n, value, b) => {
      if (n === 2) token = text(b);
      else if (n === 4) generation = value;
    });
  });
  return { token, generation };
}

function leaseFromJson(body: Buffer): Lease {
  const parsed = JSON.parse(body.toString("utf8")) as { lease?: { token?: string; generation?: string } };
  return { token: parsed.lease?.token ?? "", generation: Number(parsed.lease?.generation ?? 0) };
}

function h2Call(session: http2.ClientHttp2Session, grpc: boolean, password: string): Call {
  const contentType = grpc ? "application/grpc" : "application/proto";
  return (path, body) =>
    new Promise((resolve) => {
      const headers: http2.OutgoingHttpHeaders = { ":method": "POST", ":path": path, "content-type": contentType, "x-api-password": password };
      if (grpc) headers.te = "trailers";
      else headers["connect-protocol-version"] = "1";
      const stream = session.request(headers);
      const chunks: Buffer[] = [];
      let status = 0;
      let grpcStatus: string | undefined;
      stream.on("response", (h) => {
        status = Number(h[":status"]);
        // A gRPC error with no message comes as headers only ("trailers-only").
        if (h["grpc-status"] !== undefined) grpcStatus = String(h["grpc-status"]);
      });
      stream.on("trailers", (t) => (grpcStatus = String(t["grpc-status"])));
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("error", (e: Error) => resolve({ ok: false, body: Buffer.alloc(0), detail: e.message }));
      stream.on("end", () => {
        const data = Buffer.concat(chunks);
        const ok = status === 200 && (!grpc || grpcStatus === "0");
        // gRPC: strip the 5-byte frame header; the message follows.
        resolve({ ok, body: grpc ? data.subarray(5) : data, detail: `HTTP ${status} grpc-status ${grpcStatus ?? "-"} ${data.toString("utf8").slice(0, 200)}` });
      });
      stream.end(grpc ? envelope(0, body) : body);
    });
}

function h1JsonCall(url: URL, agent: http.Agent, password: string): Call {
  return (path, body) =>
    new Promise((resolve) => {
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          method: "POST",
          path,
          agent,
          headers: { "content-type": "application/json", "content-length": body.length, "x-api-password": password },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const data = Buffer.concat(chunks);
            resolve({ ok: res.statusCode === 200, body: data, detail: `HTTP ${res.statusCode} ${data.toString("utf8").slice(0, 200)}` });
          });
        },
      );
      req.on("error", (e) => resolve({ ok: false, body: Buffer.alloc(0), detail: e.message }));
      req.end(body);
    });
}

/** One gRPC call with a binary message; throws with the status unless the server answered OK. */
export async function grpcCallOnce(url: string, path: string, message: Buffer, password: string): Promise<void> {
  const session = http2.connect(url);
  session.on("error", () => undefined);
  try {
    const reply = await h2Call(session, true, password)(path, message);
    if (!reply.ok) throw new Error(`${url}${path} did not answer OK: ${reply.detail}`);
  } finally {
    session.close();
  }
}

/** Runs connections × streams loops of assign + release for `seconds`; counts completed pairs. */
export async function drivePairs(o: PairOptions): Promise<PairResult> {
  const json = o.protocol === "connect-json";
  const sessions: http2.ClientHttp2Session[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections * o.streams });
  const calls: Call[] = [];
  if (json) {
    const call = h1JsonCall(new URL(o.url), agent, o.password);
    for (let i = 0; i < o.connections; i++) calls.push(call);
  } else {
    for (let i = 0; i < o.connections; i++) {
      const session = http2.connect(o.url);
      session.on("error", () => undefined);
      sessions.push(session);
      calls.push(h2Call(session, o.protocol === "grpc", o.password));
    }
  }
  const assignBody = json
    ? Buffer.from(JSON.stringify({ pool: o.pool, owner: o.owner }))
    : encodeFields([
        [1, o.pool],
        [2, o.owner],
      ]);
  const releaseBody = (lease: Lease): Buffer =>
    json
      ? Buffer.from(JSON.stringify({ pool: o.pool, token: lease.token, generation: String(lease.generation) }))
      : encodeFields([
          [1, o.pool],
          [2, lease.token],
          [3, lease.generation],
        ]);

  let pairs = 0;
  let errors = 0;
  let firstError: string | undefined;
  const failed = (r: Reply): void => {
    errors++;
    firstError ??= r.detail;
  };
  const started = performance.now();
  const until = started + o.seconds * 1000;
  const loop = async (call: Call): Promise<void> => {
    while (performance.now() < until) {
      const assigned = await call(rpcPath.assign, assignBody);
      if (!assigned.ok) {
        failed(assigned);
        continue;
      }
      const lease = json ? leaseFromJson(assigned.body) : leaseFromBinary(assigned.body);
      const released = await call(RELEASE_PATH, releaseBody(lease));
      if (released.ok) pairs++;
      else failed(released);
    }
  };
  try {
    await Promise.all(calls.flatMap((call) => Array.from({ length: o.streams }, () => loop(call))));
  } finally {
    for (const s of sessions) s.close();
    agent.destroy();
  }
  return { pairs, errors, seconds: (performance.now() - started) / 1000, firstError };
}
