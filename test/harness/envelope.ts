// gRPC / gRPC-Web / Connect streaming envelopes: a flag byte, a 4-byte big-endian length, the message.
// One encoder and one splitter for every hand-built request and hand-read response in tests and benches.

/** Connect: the frame is the end-of-stream message (JSON: an error, or nothing). */
export const END_STREAM = 0x02;
/** gRPC-Web: the frame holds the trailers (0x81 when compressed as well). */
export const TRAILERS = 0x80;

export interface Envelope {
  readonly flags: number;
  readonly data: Buffer;
}

/** One envelope; `declaredLength` may lie about the payload (for hostile requests). */
export function envelope(flags: number, payload: Uint8Array, declaredLength = payload.length): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(declaredLength >>> 0, 1);
  return Buffer.concat([head, payload]);
}

/** A Connect streaming JSON message. */
export const jsonEnvelope = (message: unknown, flags = 0): Buffer => envelope(flags, Buffer.from(JSON.stringify(message)));

/**
 * Calls `each` for every complete envelope at the front of `buf`, in order, and returns the bytes of
 * the incomplete one after them (empty when `buf` ended on a boundary): feed it back with the next chunk.
 */
export function forEachEnvelope(buf: Buffer, each: (flags: number, data: Buffer) => void): Buffer {
  let pos = 0;
  while (buf.length - pos >= 5) {
    const len = buf.readUInt32BE(pos + 1);
    if (buf.length - pos - 5 < len) break;
    each(buf[pos]!, buf.subarray(pos + 5, pos + 5 + len));
    pos += 5 + len;
  }
  return buf.subarray(pos);
}

/** Every complete envelope in `buf`, and what is left of an incomplete one. */
export function splitEnvelopes(buf: Buffer): { readonly frames: Envelope[]; readonly rest: Buffer } {
  const frames: Envelope[] = [];
  const rest = forEachEnvelope(buf, (flags, data) => frames.push({ flags, data }));
  return { frames, rest };
}
