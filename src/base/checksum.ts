// xxh32 checksums (xxhash-wasm) for every WAL record, SST block and MANIFEST record.
//
// xxhash-wasm instantiates its WebAssembly module asynchronously, so `loadChecksum()` must
// have resolved before `xxh32` is called; `open()` does it. The instance is a pure function
// shared by every database in the process: it holds no database state.

import xxhash from 'xxhash-wasm';
import { invariant } from './errors.js';

let h32Raw: ((bytes: Uint8Array, seed?: number) => number) | undefined;

export async function loadChecksum(): Promise<void> {
  if (h32Raw === undefined) h32Raw = (await xxhash()).h32Raw;
}

/** xxh32 of `bytes` with `seed`. REQUIRES: loadChecksum() has resolved. */
export function xxh32(bytes: Uint8Array, seed = 0): number {
  invariant(h32Raw !== undefined, 'xxh32 called before loadChecksum()');
  return h32Raw(bytes, seed) >>> 0;
}
