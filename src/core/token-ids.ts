// Token ids: 128 random bits as 22 url-safe characters. Holders present ids back, so they come from
// the platform CSPRNG (Web Crypto, no I/O); random bytes are drawn in blocks to amortise the call.
// Each id is made in one piece (String.fromCharCode), not by appending: V8 keeps an appended string of
// 13 characters or more as a rope of one node per append (~320 B per id), for as long as it lives.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const BLOCK = 16 * 256;
const CODES = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0));
/** The 22 character codes of the id being made. */
const chars = new Array<number>(22).fill(0);

let pool = new Uint8Array(0);
let offset = 0;

export function randomTokenId(): string {
  if (offset + 16 > pool.length) {
    pool = globalThis.crypto.getRandomValues(new Uint8Array(BLOCK));
    offset = 0;
  }
  let n = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < 16; i++) {
    acc = (acc << 8) | pool[offset + i]!;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      chars[n++] = CODES[(acc >>> bits) & 63]!;
    }
  }
  // 128 bits = 21 full characters + 2 leftover bits.
  chars[n] = CODES[(acc << (6 - bits)) & 63]!;
  const out = String.fromCharCode.apply(null, chars);
  pool.fill(0, offset, offset + 16);
  offset += 16;
  return out;
}

export function mathRandomIndex(n: number): number {
  return Math.floor(Math.random() * n);
}

/**
 * `count` distinct new ids, none of them `taken`. A collision of 128-bit random ids is astronomically
 * unlikely, but costs nothing to rule out; an injected generator that keeps repeating itself gets
 * undefined (the caller's TOKEN_EXISTS) instead of a hang.
 */
export function freshTokenIds(count: number, newId: () => string = randomTokenId, taken: (id: string) => boolean = () => false): string[] | undefined {
  const fresh = new Set<string>();
  for (let misses = 0; fresh.size < count; ) {
    const id = newId();
    if (!taken(id) && !fresh.has(id)) fresh.add(id);
    else if (++misses > 8 + count) return undefined;
  }
  return [...fresh];
}
