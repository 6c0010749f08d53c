// Just enough of the protobuf wire format for the bench's hot client paths (pair driver, 100 watchers):
// decoding every message with the full runtime would cost the client as much CPU as the server.

/** Calls `field` for each top-level field of a message; LEN fields get their bytes, varints their value. */
export function forEachField(
  buf: Uint8Array,
  start: number,
  end: number,
  field: (num: number, value: number, bytes: Uint8Array | undefined) => void,
): void {
  let pos = start;
  const varint = (): number => {
    // Numbers here (sequences, seconds, lengths) stay below 2^53, so float arithmetic is exact.
    let result = 0;
    let scale = 1;
    for (;;) {
      const b = buf[pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
  };
  while (pos < end) {
    const key = varint();
    const num = Math.floor(key / 8);
    switch (key & 7) {
      case 0:
        field(num, varint(), undefined);
        break;
      case 2: {
        const len = varint();
        field(num, len, buf.subarray(pos, pos + len));
        pos += len;
        break;
      }
      case 1:
        pos += 8;
        break;
      case 5:
        pos += 4;
        break;
      default:
        throw new Error(`unsupported wire type ${key & 7}`);
    }
  }
}

function varintBytes(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** Encodes a message of string and unsigned-integer fields (enough for ReleaseTokenRequest). */
export function encodeFields(fields: ReadonlyArray<readonly [number, string | number]>): Buffer {
  const parts: number[] = [];
  for (const [num, value] of fields) {
    if (typeof value === "string") {
      const bytes = Buffer.from(value, "utf8");
      parts.push(...varintBytes(num * 8 + 2), ...varintBytes(bytes.length), ...bytes);
    } else {
      parts.push(...varintBytes(num * 8), ...varintBytes(value));
    }
  }
  return Buffer.from(parts);
}

const utf8 = new TextDecoder();
export const text = (bytes: Uint8Array | undefined): string => (bytes ? utf8.decode(bytes) : "");
