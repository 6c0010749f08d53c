// WatchLeases subscribers over gRPC (one HTTP/2 connection each), decoding only what the checks need:
// each event's sequence (to prove nothing was lost) and its time (the deadline, for expiries).

import http2 from "node:http2";
import { envelope, forEachEnvelope } from "../../test/harness/envelope.js";
import { SERVICE_PATH } from "./bodies.js";
import { encodeFields, forEachField } from "./protobuf-fields.js";

export interface WatchEvent {
  readonly sequence: number;
  readonly type: number;
  /** Event time in ms: for an expiry, the deadline it fired for. */
  readonly timeMs: number;
  /** When the bench read it (ms since the epoch). */
  readonly receivedMs: number;
}

export interface WatcherResult {
  readonly received: number;
  readonly firstSequence: number | undefined;
  readonly lastSequence: number | undefined;
  /** Sequences skipped between consecutive events (0 when every event arrived, in order). */
  readonly missing: number;
  /** gRPC status the stream ended with, if it ended before the bench closed it. */
  readonly endedWith: string | undefined;
}

export interface Watcher {
  result(): WatcherResult;
  close(): void;
}

export interface WatchOptions {
  readonly url: string;
  readonly password: string;
  readonly pool: string;
  /** Resume point: events after this sequence, then live ones. */
  readonly afterSequence: number;
  /** LeaseEventType numbers to receive; all when empty. */
  readonly types?: readonly number[];
  readonly onEvent?: (e: WatchEvent) => void;
}

const LEASE_EVENT = 1;

export function watch(o: WatchOptions): Watcher {
  const session = http2.connect(o.url);
  session.on("error", () => undefined);
  const fields: Array<readonly [number, string | number]> = [
    [1, o.pool],
    [2, o.afterSequence],
  ];
  for (const t of o.types ?? []) fields.push([3, t]);
  const stream = session.request({
    ":method": "POST",
    ":path": `${SERVICE_PATH}/WatchLeases`,
    "content-type": "application/grpc",
    te: "trailers",
    "x-api-password": o.password,
  });
  stream.end(envelope(0, encodeFields(fields)));

  let received = 0;
  let first: number | undefined;
  let last: number | undefined;
  let missing = 0;
  let endedWith: string | undefined;
  let closing = false;
  let pending: Buffer = Buffer.alloc(0);

  const onMessage = (msg: Uint8Array, receivedMs: number): void => {
    forEachField(msg, 0, msg.length, (num, _len, bytes) => {
      if (num !== LEASE_EVENT || !bytes) return; // progress heartbeats carry no event
      let sequence = 0;
      let type = 0;
      let timeMs = 0;
      forEachField(bytes, 0, bytes.length, (n, value, b) => {
        if (n === 1) sequence = value;
        else if (n === 2) type = value;
        else if (n === 7 && b) forEachField(b, 0, b.length, (tn, tv) => (timeMs += tn === 1 ? tv * 1000 : tv / 1e6));
      });
      if (last !== undefined && sequence > last + 1) missing += sequence - last - 1;
      first ??= sequence;
      last = sequence;
      received++;
      o.onEvent?.({ sequence, type, timeMs, receivedMs });
    });
  };
  stream.on("data", (chunk: Buffer) => {
    const now = Date.now();
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    pending = forEachEnvelope(pending, (_flags, message) => onMessage(message, now));
  });
  const ended = (status: string): void => {
    if (!closing) endedWith ??= status;
  };
  stream.on("response", (h) => h["grpc-status"] !== undefined && ended(`grpc-status ${String(h["grpc-status"])} ${String(h["grpc-message"] ?? "")}`));
  stream.on("trailers", (t) => ended(`grpc-status ${String(t["grpc-status"])} ${String(t["grpc-message"] ?? "")}`));
  stream.on("error", (e: Error) => ended(e.message));

  return {
    result: () => ({ received, firstSequence: first, lastSequence: last, missing, endedWith }),
    close() {
      closing = true;
      stream.close();
      session.close();
    },
  };
}
