// The protobuf binary primitives the hand-written response encoders use (keep-alive-wire.ts): fields
// of varints, UTF-8 strings, Timestamps/Durations and nested messages, in one reused scratch buffer.
//
// Why not protobuf-es's BinaryWriter: it allocates per string (TextEncoder.encode) and per nested
// message (fork() keeps a chunk list), and checks capacity per byte group; measured in
// docs/BENCHMARKS.md. Inputs are JS numbers that are safe integers (what core records hold), so no
// bigint is ever made.

/** Protobuf wire types. */
export const VARINT = 0;
export const LENGTH_DELIMITED = 2;

/** A field's key as its one byte (field numbers 1–15, all tokenpool's response encoders need). */
export const key = (field: number, wireType: number): number => (field << 3) | wireType;

// What each field writer can take at most, for reserve(): key byte, then up to a 10-byte varint (a
// negative int64); a string's length varint (5 bytes up to 2^32) and 3 UTF-8 bytes per UTF-16 unit;
// a Timestamp/Duration body of two keyed varints; a message field's key and reserved length byte.
export const VARINT_FIELD_MAX_BYTES = 11;
export const SECONDS_NANOS_FIELD_MAX_BYTES = 24;
export const OPEN_FIELD_BYTES = 2;
export const stringFieldMaxBytes = (s: string): number => 6 + 3 * s.length;

const SECONDS_KEY = key(1, VARINT);
const NANOS_KEY = key(2, VARINT);
const TWO_32 = 0x1_0000_0000;

/**
 * A writer whose field methods do not check capacity, as V8 stops inlining a deep encoder's calls
 * early and every check left is paid per field of every result: the encoder reserve()s the most a
 * message can take before writing it (the *_MAX_BYTES above). join() makes its own room.
 */
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
    this.checkReserved();
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    return out;
  }

  /** Makes room for `bytes` more, growing the scratch buffer (doubling) when needed. */
  reserve(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    this.checkReserved();
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  /** A varint field (uint32, uint64, enum): a non-negative safe integer. */
  varintField(key: number, n: number): void {
    this.buf[this.pos++] = key;
    this.varint(n);
  }

  /** A string field: length, then UTF-8. */
  stringField(key: number, s: string): void {
    this.buf[this.pos++] = key;
    this.string(s);
  }

  /** A google.protobuf.Timestamp or Duration field: { int64 seconds = 1; int32 nanos = 2; }, zeros left out. */
  secondsNanosField(key: number, seconds: number, nanos: number): void {
    const buf = this.buf;
    buf[this.pos] = key;
    // At most 22 bytes of body: its length is one byte.
    const at = this.pos + 1;
    this.pos += 2;
    // `!== 0` is also false for -0, which protobuf-es does not write either.
    if (seconds !== 0) {
      buf[this.pos++] = SECONDS_KEY;
      this.int64(seconds);
    }
    if (nanos !== 0) {
      buf[this.pos++] = NANOS_KEY;
      this.int64(nanos);
    }
    buf[at] = this.pos - at - 1;
  }

  /**
   * Opens a message field: its key, and one byte for its length, as most bodies are shorter than
   * 128 bytes. Returns where the length goes, for join().
   */
  openField(key: number): number {
    this.buf[this.pos] = key;
    this.pos += 2;
    return this.pos - 1;
  }

  /** Closes the field openField() opened: its length as a minimal varint, moving a longer body up. */
  join(at: number): void {
    const start = at + 1;
    const length = this.pos - start;
    if (length < 0x80) {
      this.buf[at] = length;
      return;
    }
    const prefix = varintSize(length);
    this.reserve(prefix - 1);
    this.buf.copyWithin(at + prefix, start, this.pos);
    this.pos = at;
    this.varint(length);
    this.pos = at + prefix + length;
  }

  /**
   * A non-negative safe integer as a varint. Below 2^32 the bit loop; above, division, since JS bit
   * operators truncate to 32 bits.
   */
  varint(n: number): void {
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
   * A signed safe integer as int64 (or int32) wire: a negative one is its 64-bit two's complement,
   * ten bytes, as protobuf-es (and every protobuf runtime) writes negative int32s too.
   */
  int64(n: number): void {
    if (n >= 0) return this.varint(n);
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
   * A string's length and UTF-8. Short ASCII (tokens, pools, most owners) is copied unit by unit;
   * anything else goes through Buffer's native encoder, which, like the TextEncoder of protobuf-es,
   * writes a lone surrogate as U+FFFD.
   */
  string(s: string): void {
    const n = s.length;
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
    // pos moves by what was meant, not what fitted, so a short reservation is seen (checkReserved).
    buf.write(s, this.pos, bytes, "utf8");
    this.pos += bytes;
  }

  /**
   * A write past the buffer's end is dropped by the typed array but still advances pos: a
   * reservation that was too small (an encoder's bug) throws here instead of answering a corrupt
   * message. Checked before growing and at finish(), the only places pos can be seen past the end.
   */
  private checkReserved(): void {
    if (this.pos > this.buf.length) throw new Error(`wire writer: wrote ${this.pos} bytes into ${this.buf.length} reserved`);
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
