// The protobuf binary primitives the hand-written response encoders use (keep-alive-wire.ts): varints,
// tags, UTF-8 strings and length-delimited fields, written into one reused scratch buffer.
//
// Why not protobuf-es's BinaryWriter: it allocates per string (TextEncoder.encode) and per nested
// message (fork() pushes a chunk list), which is most of what a 100-result answer costs; measured in
// docs/BENCHMARKS.md. Inputs are JS numbers that are safe integers (what core records hold), so no
// bigint is ever made.

/** Protobuf wire types used here. */
export const VARINT = 0;
export const LENGTH_DELIMITED = 2;

/** Bytes a length prefix takes in front of a length-delimited field before the body is written. */
const RESERVED_LENGTH_BYTES = 1;
const TWO_32 = 0x1_0000_0000;

export class WireWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialBytes = 16 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** Starts a new message, reusing the scratch buffer. */
  reset(): void {
    this.pos = 0;
  }

  /** The message written since reset(), as its own Buffer (the scratch buffer is reused after). */
  finish(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    return out;
  }

  /** A field's key. Field numbers below 16 (all of KeepAliveResponse's) take one byte, written directly. */
  tag(field: number, wireType: number): void {
    const key = (field << 3) | wireType;
    if (key > 0x7f || this.pos >= this.buf.length) return this.varint(key);
    this.buf[this.pos++] = key;
  }

  /**
   * A non-negative safe integer as a varint (uint32, uint64, enum, int64 ≥ 0). Below 2^32 the bit
   * loop; above, division, since JS bit operators truncate to 32 bits.
   */
  varint(n: number): void {
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    if (n <= 0xffff_ffff) {
      while (n > 0x7f) {
        buf[pos++] = (n & 0x7f) | 0x80;
        n >>>= 7;
      }
    } else {
      while (n > 0x7f) {
        buf[pos++] = (n % 0x80) | 0x80;
        n = Math.floor(n / 0x80);
      }
    }
    buf[pos++] = n;
    this.pos = pos;
  }

  /**
   * A signed safe integer as int64/int32 wire: a negative one is its 64-bit two's complement, ten
   * bytes, as protobuf-es (and every protobuf runtime) writes negative int32s too.
   */
  int64(n: number): void {
    if (n >= 0) return this.varint(n);
    this.ensure(10);
    // n = hi·2^32 + lo with lo in [0, 2^32); >>> 0 takes each half modulo 2^32 (two's complement).
    const high = Math.floor(n / TWO_32);
    let lo = (n - high * TWO_32) >>> 0;
    let hi = high >>> 0;
    const buf = this.buf;
    let pos = this.pos;
    while (hi !== 0 || lo > 0x7f) {
      buf[pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    buf[pos++] = lo;
    this.pos = pos;
  }

  /**
   * A string field's body: length, then UTF-8. Short ASCII (tokens, pools, most owners) is copied
   * byte by byte; anything else goes through Buffer's native encoder, which, like TextEncoder in
   * protobuf-es, writes a lone surrogate as U+FFFD.
   */
  string(s: string): void {
    const n = s.length;
    this.ensure(n * 3 + 5);
    const buf = this.buf;
    if (n < 0x80) {
      let pos = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[pos++] = c;
      }
      if (i === n) {
        buf[this.pos] = n;
        this.pos = pos;
        return;
      }
    }
    const bytes = Buffer.byteLength(s, "utf8");
    this.varint(bytes);
    this.pos += this.buf.write(s, this.pos, bytes, "utf8");
  }

  /**
   * Opens a length-delimited field's body, returning where its length goes. One byte is reserved,
   * as most bodies are shorter than 128 bytes; join() moves a longer body up to make room.
   */
  fork(): number {
    this.ensure(RESERVED_LENGTH_BYTES);
    const at = this.pos;
    this.pos += RESERVED_LENGTH_BYTES;
    return at;
  }

  /** Closes the body fork() opened at `at`, writing its length (minimal varint, as protobuf-es). */
  join(at: number): void {
    const start = at + RESERVED_LENGTH_BYTES;
    const length = this.pos - start;
    if (length < 0x80) {
      this.buf[at] = length;
      return;
    }
    const prefix = varintSize(length);
    this.ensure(prefix - RESERVED_LENGTH_BYTES);
    this.buf.copyWithin(at + prefix, start, this.pos);
    this.pos = at;
    this.varint(length);
    this.pos = at + prefix + length;
  }

  private ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}
