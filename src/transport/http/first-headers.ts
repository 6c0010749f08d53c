// Reads an HTTP/2 connection's opening bytes up to its first request's header block, so the one-port
// listener can pick the server for the whole connection from that request's content-type.
// Frames are only looked at, never answered: what was read is replayed to the chosen server as is,
// less the one SETTINGS acknowledgement that answers the listener's own early SETTINGS.

/// <reference path="./hpack-js.d.ts" />
import hpack from "hpack.js";

const FRAME_HEADER = 9;
const HEADERS = 0x1;
const SETTINGS = 0x4;
const CONTINUATION = 0x9;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
/** SETTINGS_HEADER_TABLE_SIZE's initial value: the client's encoder starts from it. */
const HPACK_TABLE_SIZE = 4096;

/** GOAWAY(NO_ERROR) naming no stream: "no request was taken, try elsewhere" (RFC 9113 §6.8). */
export const GOAWAY_NO_ERROR = Buffer.from([0, 0, 8, 0x7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

/** A SETTINGS frame (stream 0) carrying packed settings (http2.getPackedSettings). */
export function settingsFrame(packed: Buffer): Buffer {
  const head = Buffer.from([0, 0, 0, SETTINGS, 0, 0, 0, 0, 0]);
  head.writeUIntBE(packed.length, 0, 3);
  return Buffer.concat([head, packed]);
}

export interface Scan {
  /** False while more bytes are needed. */
  readonly done: boolean;
  /** The first request's headers once done (undefined if its block could not be decoded). */
  readonly headers: ReadonlyMap<string, string> | undefined;
  /** What the chosen server must read: the bytes so far, less the listener's SETTINGS ACK. */
  readonly replay: Buffer;
}

/**
 * Scans `bytes` (starting right after the 24-byte preface, which it keeps) for the first complete
 * header block. `awaitAck` says the listener sent its own SETTINGS: the scan is then only done once
 * the client has acknowledged them too, and that acknowledgement is cut out of the replay (the real
 * server sends its own SETTINGS and would take a second ACK as a protocol error).
 */
export function scanFirstHeaders(bytes: Buffer, prefaceLength: number, awaitAck: boolean): Scan {
  const kept: Buffer[] = [bytes.subarray(0, prefaceLength)];
  let offset = prefaceLength;
  let keptFrom = prefaceLength;
  let acked = !awaitAck;
  let block: Buffer[] | undefined;
  let blockDone = false;
  while (offset + FRAME_HEADER <= bytes.length && !(blockDone && acked)) {
    const length = bytes.readUIntBE(offset, 3);
    const type = bytes[offset + 3] as number;
    const flags = bytes[offset + 4] as number;
    const end = offset + FRAME_HEADER + length;
    if (end > bytes.length) break;
    const payload = bytes.subarray(offset + FRAME_HEADER, end);
    if (type === SETTINGS && flags & FLAG_ACK && !acked) {
      kept.push(bytes.subarray(keptFrom, offset));
      keptFrom = end;
      acked = true;
    } else if (!blockDone && block === undefined && type === HEADERS) {
      block = [headerFragment(payload, flags)];
      blockDone = (flags & FLAG_END_HEADERS) !== 0;
    } else if (!blockDone && block !== undefined && type === CONTINUATION) {
      block.push(payload);
      blockDone = (flags & FLAG_END_HEADERS) !== 0;
    }
    offset = end;
  }
  kept.push(bytes.subarray(keptFrom));
  const replay = kept.length === 2 && keptFrom === prefaceLength ? bytes : Buffer.concat(kept);
  if (!(blockDone && acked) || block === undefined) return { done: false, headers: undefined, replay };
  return { done: true, headers: decodeBlock(Buffer.concat(block)), replay };
}

/** The header block fragment of a HEADERS payload, without padding and priority fields. */
function headerFragment(payload: Buffer, flags: number): Buffer {
  let start = 0;
  let end = payload.length;
  if (flags & FLAG_PADDED) {
    end -= payload[0] ?? 0;
    start += 1;
  }
  if (flags & FLAG_PRIORITY) start += 5;
  return start <= end ? payload.subarray(start, end) : Buffer.alloc(0);
}

/** The first block of a connection decodes alone: the HPACK dynamic table starts empty. */
function decodeBlock(block: Buffer): ReadonlyMap<string, string> | undefined {
  const decoder = hpack.decompressor.create({ table: { size: HPACK_TABLE_SIZE } });
  let failed = false;
  decoder.on("error", () => (failed = true));
  try {
    decoder.write(block);
    decoder.execute();
  } catch {
    return undefined;
  }
  if (failed) return undefined;
  const headers = new Map<string, string>();
  for (let h = decoder.read(); h !== null; h = decoder.read()) if (!headers.has(h.name)) headers.set(h.name, h.value);
  return headers;
}

/**
 * Native gRPC with the protobuf codec (application/grpc, application/grpc+proto, optionally with
 * parameters): what grpc-js serves. Not gRPC-Web, and not other codecs (application/grpc+json), which
 * grpc-js cannot tell apart from proto and connect-node serves.
 */
export function isGrpcProto(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const ct = contentType.toLowerCase().split(";", 1)[0]?.trim();
  return ct === "application/grpc" || ct === "application/grpc+proto";
}
