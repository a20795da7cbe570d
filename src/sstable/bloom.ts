// The table's bloom filter over user keys: one filter block for the whole table.
//
//   filterBlock := bits[n] | numProbes u8
//   bit i       := bit (i & 7) of bits[i >> 3]; the filter has m = 8n bits
//   probes      := h = xxh32(userKey, seed 0xbc9f1d34); delta = h rotated right by 17 bits;
//                  for j in 0..numProbes: bit (h mod m) is set; h = (h + delta) mod 2^32
//   numProbes   := 1..30, or 0 with n = 0 for a table written without a filter (every key
//                  may be present)
//
// The builder sizes m = max(64, ceil(keys * bitsPerKey)) rounded up to bytes, and
// numProbes = round(bitsPerKey * ln 2) clamped to 1..30; both are in the block, so a reader
// never depends on the writer's options. The seed differs from the shard router's hash so
// that the keys of one shard do not all share the low bits of h.

import { xxh32 } from '../base/checksum.js';
import { corruption } from '../base/errors.js';
import { native } from '../base/native.js';

export const BLOOM_SEED = 0xbc9f1d34;
const MAX_PROBES = 30;

export function bloomHash(key: Uint8Array): number {
  return xxh32(key, BLOOM_SEED);
}

/**
 * h mod m for h and m below 2^32, without `%`: V8 computes `%` of a number at or above 2^31
 * with a call to fmod, which made building a filter three times slower (55 ns a key against
 * 18). Exact: h / m is off from the true quotient q by at most q * 2^-53 < 2^-21 / m, less
 * than the 1 / m that separates q from the next integer down when h mod m > 0, so
 * Math.floor never rounds across an integer.
 */
function probeBit(h: number, m: number): number {
  return h - Math.floor(h / m) * m;
}

/** Builds the filter block from the hashes (bloomHash) of the table's distinct user keys. */
export function buildBloomFilter(hashes: Uint32Array, count: number, bitsPerKey: number): Buffer {
  if (bitsPerKey <= 0) return Buffer.from([0]);
  const probes = Math.min(MAX_PROBES, Math.max(1, Math.round(bitsPerKey * Math.LN2)));
  const bytes = Math.ceil(Math.max(64, Math.ceil(count * bitsPerKey)) / 8);
  const bits = bytes * 8;
  const out = Buffer.alloc(bytes + 1);
  out[bytes] = probes;
  if (native.buildBloomFilter !== undefined) {
    native.buildBloomFilter(hashes, count, out.subarray(0, bytes), probes);
    return out;
  }
  for (let i = 0; i < count; i++) {
    let h = hashes[i]!;
    const delta = ((h >>> 17) | (h << 15)) >>> 0;
    for (let j = 0; j < probes; j++) {
      const bit = probeBit(h, bits);
      out[bit >>> 3]! |= 1 << (bit & 7);
      h = (h + delta) >>> 0;
    }
  }
  return out;
}

/** A filter block, checked once at open. */
export class BloomFilter {
  readonly #bits: Uint8Array;
  readonly #bitCount: number;
  readonly #probes: number;

  constructor(block: Uint8Array, file: string, fileOffset: number) {
    const probes = block.length > 0 ? block[block.length - 1]! : -1;
    const bytes = block.length - 1;
    const ok = probes === 0 ? bytes === 0 : probes >= 1 && probes <= MAX_PROBES && bytes > 0;
    if (!ok) throw corruption(file, fileOffset, `filter block of ${block.length} bytes with ${probes} probes`);
    this.#bits = block.subarray(0, bytes);
    this.#bitCount = bytes * 8;
    this.#probes = probes;
  }

  /** Bytes of the filter's bits, which the reader keeps for the table's life. */
  get memoryBytes(): number {
    return this.#bits.byteLength;
  }

  /** The filter's bits and probes, for the addon's point read (TableReader). REQUIRES: the caller changes no bit. */
  nativeParts(): { bits: Uint8Array; probes: number } {
    return { bits: this.#bits, probes: this.#probes };
  }

  /** False only if no key hashing to `hash` was added. */
  mayContainHash(hash: number): boolean {
    const probes = this.#probes;
    if (probes === 0) return true;
    const bits = this.#bits;
    const m = this.#bitCount;
    let h = hash;
    const delta = ((h >>> 17) | (h << 15)) >>> 0;
    for (let j = 0; j < probes; j++) {
      const bit = probeBit(h, m);
      if ((bits[bit >>> 3]! & (1 << (bit & 7))) === 0) return false;
      h = (h + delta) >>> 0;
    }
    return true;
  }
}
