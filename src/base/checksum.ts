// xxh32 checksums (xxhash-wasm) for every WAL record, SST block and MANIFEST record, and the
// hash of short keys (bloom filters, shard routing).
//
// xxhash-wasm instantiates its WebAssembly module asynchronously, so `loadChecksum()` must
// have resolved before `xxh32` is called; `open()` does it. The instance is a pure function
// shared by every database in the process: it holds no database state.
//
// Inputs up to SHORT_INPUT_BYTES are hashed in JavaScript instead: the call into WebAssembly
// copies its input into the module's memory first, and for a 16-byte key that copy and the
// crossing cost several times the hashing. Both give the same numbers (XXH32 as specified by
// the xxHash project); test/checksum.test.ts compares them.

import xxhash from 'xxhash-wasm';
import { invariant } from './errors.js';
import { nextTurn } from './loop-turns.js';

let h32Raw: ((bytes: Uint8Array, seed?: number) => number) | undefined;
let create32: ((seed?: number) => { update(input: Uint8Array): unknown; digest(): number }) | undefined;

export async function loadChecksum(): Promise<void> {
  if (h32Raw === undefined) ({ h32Raw, create32 } = await xxhash());
}

const SHORT_INPUT_BYTES = 64;

/** xxh32 of `bytes` with `seed`. REQUIRES: loadChecksum() has resolved. */
export function xxh32(bytes: Uint8Array, seed = 0): number {
  if (bytes.length <= SHORT_INPUT_BYTES) return xxh32Short(bytes, seed);
  invariant(h32Raw !== undefined, 'xxh32 called before loadChecksum()');
  return h32Raw(bytes, seed) >>> 0;
}

/** Bytes xxh32InSlices() hashes between two turns of the event loop: well under 1 ms of work. */
const SLICE_BYTES = 1 << 20;

/**
 * xxh32 of `bytes`, hashed a slice at a time with a turn of the event loop (setImmediate)
 * between slices: for inputs so large (megabytes) that hashing them at once would hold the
 * loop. The same number as xxh32(). REQUIRES: loadChecksum() has resolved.
 */
export async function xxh32InSlices(bytes: Uint8Array, seed = 0): Promise<number> {
  if (bytes.length <= SLICE_BYTES) return xxh32(bytes, seed);
  invariant(create32 !== undefined, 'xxh32InSlices called before loadChecksum()');
  const state = create32(seed);
  for (let at = 0; at < bytes.length; at += SLICE_BYTES) {
    if (at > 0) await nextTurn();
    state.update(bytes.subarray(at, at + SLICE_BYTES));
  }
  return state.digest() >>> 0;
}

/**
 * An xxh32 fed in pieces (for data that arrives in chunks, such as a file streamed over the
 * network): the same number as xxh32() of the pieces joined. REQUIRES: loadChecksum() has
 * resolved.
 */
export function xxh32Streaming(seed = 0): { update(piece: Uint8Array): void; digest(): number } {
  invariant(create32 !== undefined, 'xxh32Streaming called before loadChecksum()');
  const state = create32(seed);
  return {
    update: (piece) => void state.update(piece),
    digest: () => state.digest() >>> 0,
  };
}

const PRIME1 = 0x9e3779b1;
const PRIME2 = 0x85ebca77;
const PRIME3 = 0xc2b2ae3d;
const PRIME4 = 0x27d4eb2f;
const PRIME5 = 0x165667b1;

const rotl = (x: number, r: number) => (x << r) | (x >>> (32 - r));

function round(acc: number, lane: number): number {
  return Math.imul(rotl((acc + Math.imul(lane, PRIME2)) | 0, 13), PRIME1);
}

function u32At(b: Uint8Array, p: number): number {
  return b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24);
}

/** XXH32 in JavaScript, for any length (used for short inputs only). */
export function xxh32Short(b: Uint8Array, seed: number): number {
  const length = b.length;
  let p = 0;
  let h: number;
  if (length >= 16) {
    let v1 = (seed + PRIME1 + PRIME2) | 0;
    let v2 = (seed + PRIME2) | 0;
    let v3 = seed | 0;
    let v4 = (seed - PRIME1) | 0;
    const limit = length - 16;
    do {
      v1 = round(v1, u32At(b, p));
      v2 = round(v2, u32At(b, p + 4));
      v3 = round(v3, u32At(b, p + 8));
      v4 = round(v4, u32At(b, p + 12));
      p += 16;
    } while (p <= limit);
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0;
  } else {
    h = (seed + PRIME5) | 0;
  }
  h = (h + length) | 0;
  for (; p + 4 <= length; p += 4) h = Math.imul(rotl((h + Math.imul(u32At(b, p), PRIME3)) | 0, 17), PRIME4);
  for (; p < length; p++) h = Math.imul(rotl((h + Math.imul(b[p]!, PRIME5)) | 0, 11), PRIME1);
  h ^= h >>> 15;
  h = Math.imul(h, PRIME2);
  h ^= h >>> 13;
  h = Math.imul(h, PRIME3);
  h ^= h >>> 16;
  return h >>> 0;
}
