// How a Connect call ended, for interceptors that count or log calls: a unary call when its answer is
// ready, a stream only when its last message has gone (or it failed mid-way).

import { Code, type StreamResponse, type UnaryResponse } from "@connectrpc/connect";

export interface CallOutcome {
  ok(): void;
  /** Told of the failure; returns the error to throw on (the same one, or one with more metadata). */
  failed(e: unknown): unknown;
}

export async function observeCall<R extends UnaryResponse | StreamResponse>(call: () => Promise<R>, outcome: CallOutcome): Promise<R> {
  let res: R;
  try {
    res = await call();
  } catch (e) {
    throw outcome.failed(e);
  }
  if (!res.stream) {
    outcome.ok();
    return res;
  }
  const inner = res.message;
  const message = (async function* () {
    try {
      yield* inner;
    } catch (e) {
      throw outcome.failed(e);
    }
    outcome.ok();
  })();
  return { ...res, message };
}

/** A status code in the Connect protocol's spelling ("invalid_argument"), as metric labels use. */
export function codeName(code: Code | 0): string {
  if (code === 0) return "ok";
  const name = Code[code] as string | undefined;
  return name === undefined ? "unknown" : name.replace(/(?<=[a-z])(?=[A-Z])/g, "_").toLowerCase();
}
