// Token ids: 128 random bits as 22 url-safe characters. Holders present ids back, so they come from
// the platform CSPRNG (Web Crypto, no I/O); random bytes are drawn in blocks to amortise the call.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const BLOCK = 16 * 256;

let pool = new Uint8Array(0);
let offset = 0;

export function randomTokenId(): string {
  if (offset + 16 > pool.length) {
    pool = globalThis.crypto.getRandomValues(new Uint8Array(BLOCK));
    offset = 0;
  }
  let out = "";
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < 16; i++) {
    acc = (acc << 8) | pool[offset + i]!;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += ALPHABET[(acc >>> bits) & 63];
    }
  }
  // 128 bits = 21 full characters + 2 leftover bits.
  out += ALPHABET[(acc << (6 - bits)) & 63];
  pool.fill(0, offset, offset + 16);
  offset += 16;
  return out;
}

export function mathRandomIndex(n: number): number {
  return Math.floor(Math.random() * n);
}
