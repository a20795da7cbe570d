// Large buffers written once from start to end (memtable arena chunks and node arrays, key
// index tables, ingest packs), placed on transparent huge pages where the native addon can
// advise them (native.hugePages) and the kernel gives them.
//
// Why: the first write of a fresh 4 KiB page is a page fault, and on this project's test
// machine (a virtual machine: nested paging) one costs about 11 us, so a 64 MiB memtable paid
// about 180 ms of faults, and 41% of an ingest's main thread was faults in its packs. A 2 MiB
// huge page is one fault for 512 pages' memory (64 MiB: about 6 ms), and fewer TLB misses for
// the random accesses of a skip list or a hash table.
//
// Invariants:
// 1. The memory is fresh: its pages are faulted in only as it is written (an allocation over
//    glibc's largest mmap threshold, 32 MiB, is mapped memory, not heap memory that calloc
//    zeroed, and so touched, before it could be advised).
// 2. The view returned begins on a huge page boundary when anything was advised, so that a
//    later decommit of whole huge pages (MemtablePool) gives them back whole instead of
//    splitting them (after a split the next writes fault 4 KiB pages again).

import { native } from './native.js';

export const HUGE_PAGE_BYTES = 2 << 20;
/** Over glibc's largest mmap threshold (invariant 1). */
const MAPPED_BYTES = 33 << 20;
/** Smaller buffers are plain ones: a huge page or two would not pay for the address space. */
const MIN_HUGE_BYTES = 2 * HUGE_PAGE_BYTES;

/**
 * `length` zero bytes of fresh memory (in a SharedArrayBuffer when `shared`), beginning on a
 * huge page where it could be advised (at least MIN_HUGE_BYTES). The buffer behind the view is
 * larger (address space only: pages never written cost no memory).
 */
export function hugePageBytes(length: number, shared: boolean): Uint8Array {
  if (length < MIN_HUGE_BYTES || native.hugePages === undefined) return new Uint8Array(shared ? new SharedArrayBuffer(length) : new ArrayBuffer(length));
  const size = Math.max(length, MAPPED_BYTES) + HUGE_PAGE_BYTES;
  const whole = new Uint8Array(shared ? new SharedArrayBuffer(size) : new ArrayBuffer(size));
  const first = Math.max(native.hugePages(whole), 0);
  return whole.subarray(first, first + length);
}

/** hugePageBytes(4 × `length`, shared) as `length` int32s. */
export function hugePageInts(length: number, shared: boolean): Int32Array {
  const memory = hugePageBytes(length * 4, shared);
  return new Int32Array(memory.buffer, memory.byteOffset, length);
}

/** `memory` cut into pieces of `size` bytes (a shorter rest is left out), the last first: pop() hands them out in order. */
export function piecesOf(memory: Uint8Array, size: number): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  for (let at = Math.floor(memory.length / size) * size - size; at >= 0; at -= size) pieces.push(memory.subarray(at, at + size));
  return pieces;
}
