// A raw HTTP/2 client over net.Socket for the abuse tests: it ignores the server's SETTINGS, so it can
// open more streams than allowed and watch what the server answers frame by frame (node:http2 queues
// requests beyond the peer's limit instead of sending them).

import net from "node:net";

const MAX_FRAME = 16_384;
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export const FRAME = { DATA: 0x0, HEADERS: 0x1, RST_STREAM: 0x3, SETTINGS: 0x4, PING: 0x6, GOAWAY: 0x7, WINDOW_UPDATE: 0x8, CONTINUATION: 0x9 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
export const H2_ERROR = { NO_ERROR: 0x0, PROTOCOL_ERROR: 0x1, INTERNAL_ERROR: 0x2, REFUSED_STREAM: 0x7, CANCEL: 0x8, ENHANCE_YOUR_CALM: 0xb } as const;

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
  readonly payload: Buffer;
}

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK integer with an n-bit prefix (RFC 7541 §5.1). */
function hpackInt(value: number, prefixBits: number, firstByteFlags: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByteFlags | value]);
  const out = [firstByteFlags | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

/** A header block of "literal without indexing, new name" fields: no dynamic table state to track. */
export function headerBlock(headers: readonly (readonly [string, string])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) {
    const n = Buffer.from(name, "latin1");
    const v = Buffer.from(value, "latin1");
    parts.push(Buffer.from([0x00]), hpackInt(n.length, 7, 0), n, hpackInt(v.length, 7, 0), v);
  }
  return Buffer.concat(parts);
}

export function errorCodeOf(f: Frame): number {
  // RST_STREAM: the code is the whole payload; GOAWAY: last-stream-id, then the code.
  return f.type === FRAME.GOAWAY ? f.payload.readUInt32BE(4) : f.payload.readUInt32BE(0);
}

export class RawH2 {
  readonly frames: Frame[] = [];
  private buffered = Buffer.alloc(0);
  readonly closed: Promise<void>;
  private listeners = new Set<() => void>();

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      while (this.buffered.length >= 9) {
        const len = this.buffered.readUIntBE(0, 3);
        if (this.buffered.length < 9 + len) break;
        const f: Frame = {
          type: this.buffered[3]!,
          flags: this.buffered[4]!,
          stream: this.buffered.readUInt32BE(5) & 0x7fffffff,
          payload: this.buffered.subarray(9, 9 + len),
        };
        this.buffered = this.buffered.subarray(9 + len);
        // Acknowledge SETTINGS so the server does not time the connection out waiting for it.
        if (f.type === FRAME.SETTINGS && !(f.flags & FLAG.ACK)) socket.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
        this.frames.push(f);
      }
      for (const l of this.listeners) l();
    });
    socket.on("error", () => undefined);
    this.closed = new Promise((resolve) => socket.once("close", () => {
      for (const l of this.listeners) l();
      resolve();
    }));
  }

  static async connect(port: number): Promise<RawH2> {
    const socket = net.connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const c = new RawH2(socket);
    socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]));
    return c;
  }

  /** Opens a request stream; without END_STREAM the server waits for a body that never comes. */
  headers(stream: number, headers: readonly (readonly [string, string])[], endStream: boolean): boolean {
    if (this.socket.destroyed) return false;
    // Blocks beyond the default 16 KiB frame size go out as HEADERS + CONTINUATION frames.
    const block = headerBlock(headers);
    const chunks: Buffer[] = [];
    for (let at = 0; at < block.length || chunks.length === 0; at += MAX_FRAME) chunks.push(block.subarray(at, at + MAX_FRAME));
    const frames = chunks.map((chunk, i) => {
      const last = i === chunks.length - 1 ? FLAG.END_HEADERS : 0;
      return i === 0 ? frame(FRAME.HEADERS, last | (endStream ? FLAG.END_STREAM : 0), stream, chunk) : frame(FRAME.CONTINUATION, last, stream, chunk);
    });
    return this.socket.write(Buffer.concat(frames));
  }

  data(stream: number, payload: Buffer, endStream: boolean): void {
    if (this.socket.destroyed) return;
    this.socket.write(frame(FRAME.DATA, endStream ? FLAG.END_STREAM : 0, stream, payload));
  }

  rst(stream: number, code: number): void {
    if (this.socket.destroyed) return;
    const p = Buffer.alloc(4);
    p.writeUInt32BE(code);
    this.socket.write(frame(FRAME.RST_STREAM, 0, stream, p));
  }

  /** Resolves once `pred` holds for the frames seen so far, or the socket closed, or the time is up. */
  async until(pred: (frames: readonly Frame[]) => boolean, timeoutMs: number): Promise<boolean> {
    if (pred(this.frames)) return true;
    return new Promise((resolve) => {
      const check = (): void => {
        if (pred(this.frames) || this.socket.destroyed) done(pred(this.frames));
      };
      const timer = setTimeout(() => done(pred(this.frames)), timeoutMs);
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve(ok);
      };
      this.listeners.add(check);
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}
