// The data every workload writes and reads, after LevelDB's and RocksDB's db_bench:
//
//   key   := the operation's key number as 16 ASCII decimal digits, zero padded ("%016d"), so
//            that key order is numeric order and fillseq writes in key order
//   value := a window of `valueBytes` into a 1 MiB pool made of 100-byte pieces, each piece
//            50 random printable bytes written twice: a value compresses to about half, like
//            db_bench's --compression_ratio 0.5
//
// Every random choice comes from a seeded generator, so every store of a run gets the same
// keys in the same order.

export const KEY_BYTES = 16;
const POOL_BYTES = 1 << 20;
const PIECE_BYTES = 100;

/** xorshift32: fast, seedable, good enough to pick keys. */
export class Random {
  #state: number;

  constructor(seed: number) {
    this.#state = seed | 0 || 0x2545f491;
  }

  /** A uniform 32-bit unsigned integer. */
  next(): number {
    let s = this.#state;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.#state = s;
    return s >>> 0;
  }

  /** A uniform integer in [0, n), for n up to 2^32 · 2^21 (two draws make 53 bits). */
  below(n: number): number {
    if (n <= 0x1_0000_0000) return Math.floor((this.next() / 0x1_0000_0000) * n);
    return Math.floor(((this.next() * 0x20_0000 + (this.next() >>> 11)) / 2 ** 53) * n);
  }
}

/** The key numbers 0..n-1 in a random order (Fisher-Yates): each key once. */
export function permutation(n: number, random: Random): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = random.below(i + 1);
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}

/**
 * A fresh 16-byte key for key number `n` (0 <= n < 10^16). Fresh, as a caller's would be.
 * Digits in two halves of 8 with small-integer arithmetic: `n % 10` and `Math.floor(n / 10)`
 * on a number are floating-point operations, and took a quarter of the loading thread's time
 * in `bulkload` (time that is the bench's, not the store's).
 */
export function makeKey(n: number): Buffer {
  const key = Buffer.allocUnsafe(KEY_BYTES);
  let low = n % 100_000_000;
  let high = (n - low) / 100_000_000;
  for (let p = KEY_BYTES - 1; p >= 8; p--) {
    const q = (low / 10) | 0;
    key[p] = 48 + low - q * 10;
    low = q;
  }
  for (let p = 7; p >= 0; p--) {
    const q = (high / 10) | 0;
    key[p] = 48 + high - q * 10;
    high = q;
  }
  return key;
}

/** Hands out values as windows of one pool, in turn, as db_bench's RandomGenerator does. */
export class ValueSource {
  readonly valueBytes: number;
  readonly #pool: Buffer;
  #position = 0;

  constructor(valueBytes: number, random: Random) {
    this.valueBytes = valueBytes;
    const poolBytes = Math.max(POOL_BYTES, valueBytes);
    this.#pool = Buffer.allocUnsafe(poolBytes + PIECE_BYTES);
    for (let piece = 0; piece < this.#pool.length; piece += PIECE_BYTES) {
      const half = PIECE_BYTES / 2;
      for (let i = 0; i < half && piece + i < this.#pool.length; i++) {
        const c = 32 + (random.next() % 95);
        this.#pool[piece + i] = c;
        if (piece + half + i < this.#pool.length) this.#pool[piece + half + i] = c;
      }
    }
  }

  /** The next value: a view into the pool, which nobody writes after construction. */
  next(): Buffer {
    if (this.#position + this.valueBytes > this.#pool.length) this.#position = 0;
    const value = this.#pool.subarray(this.#position, this.#position + this.valueBytes);
    this.#position += this.valueBytes;
    return value;
  }
}
