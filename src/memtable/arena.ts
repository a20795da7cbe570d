// The arena: where a memtable's key and value bytes live.
//
// Bytes are carved out of large chunks in order. A chunk is never moved, grown, reused or
// freed while its memtable lives, so a view into it (a value returned by get(), a key shown
// by an iterator) stays valid and unchanged for the memtable's whole life: until release(),
// after which a MemtablePool may hand the chunk to another memtable (pool.ts). An allocation
// larger than a quarter of a chunk gets a chunk of its own, so that starting a new chunk
// never abandons more than a quarter of the old one.
//
// Chunks live in SharedArrayBuffers, so that an immutable memtable can be flushed by a worker
// thread that reads the very same bytes (Memtable.toShared / fromShared): no copy.

import { invariant } from '../base/index.js';
import type { MemtablePool } from './pool.js';

/** #currentId of an arena that is a read-only view of another's chunks. */
const VIEW = -1;
/** #currentId before the first chunk (or only dedicated chunks) was allocated. */
const NO_CHUNK_YET = -2;

export class Arena {
  readonly chunkBytes: number;
  /** Every chunk allocated so far; a chunk's id is its index here. */
  readonly chunks: Uint8Array[] = [];
  /** Chunk id and offset of the bytes the last allocate() returned. */
  chunkId = 0;
  offset = 0;

  #current: Uint8Array;
  #currentId: number;
  readonly #pool: MemtablePool | undefined;
  /** Bytes handed out of the current chunk (more than chunkBytes while there is none yet, so that even an empty allocation takes one). */
  #used = 0;
  /** Bytes of chunks no longer current (their unused tails included) and of dedicated chunks. */
  #retiredBytes = 0;

  /**
   * A new arena, its chunks from `pool` when given (whose chunkBytes must be chunkBytes); or,
   * with `chunks`, a read-only view of another arena's chunks (no allocate()).
   */
  constructor(chunkBytes: number, chunks?: readonly Uint8Array[], pool?: MemtablePool) {
    this.chunkBytes = chunkBytes;
    this.#pool = pool;
    if (chunks !== undefined) {
      this.chunks.push(...chunks);
      this.#current = new Uint8Array(0);
      this.#currentId = VIEW;
      return;
    }
    invariant(pool === undefined || pool.chunkBytes === chunkBytes, 'a pool hands out chunks of the arena\'s size');
    // The first chunk comes with the first allocate(): an empty memtable (a shard that takes
    // no writes, the memtable after a flush on close) holds no chunk.
    this.#current = new Uint8Array(0);
    this.#currentId = NO_CHUNK_YET;
    this.#used = chunkBytes + 1;
  }

  /**
   * Reserves `length` bytes and returns the chunk holding them; their place is in
   * `this.chunkId` and `this.offset`.
   */
  allocate(length: number): Uint8Array {
    invariant(this.#currentId !== VIEW, 'allocate() on a view of another arena');
    if (length <= this.chunkBytes - this.#used) {
      this.chunkId = this.#currentId;
      this.offset = this.#used;
      this.#used += length;
      return this.#current;
    }
    if (length > this.chunkBytes >>> 2) {
      const own = sharedBytes(length);
      this.chunkId = this.chunks.push(own) - 1;
      this.offset = 0;
      this.#retiredBytes += length;
      return own;
    }
    if (this.#currentId !== NO_CHUNK_YET) this.#retiredBytes += this.chunkBytes;
    this.#current = this.#newChunk();
    this.#currentId = this.chunks.push(this.#current) - 1;
    invariant(this.#currentId < 0x7fff_ffff, 'arena chunk ids fit in an int32');
    this.chunkId = this.#currentId;
    this.offset = 0;
    this.#used = length;
    return this.#current;
  }

  #newChunk(): Uint8Array {
    return this.#pool !== undefined ? this.#pool.takeChunk() : sharedBytes(this.chunkBytes);
  }

  /**
   * The chunk allocations come from now and how many of its bytes are handed out, for a writer
   * that fills it past `used` itself and then calls advance() (SkipList.appendRun); undefined
   * before the first chunk.
   */
  get current(): { chunk: Uint8Array; id: number; used: number } | undefined {
    if (this.#currentId < 0) return undefined;
    return { chunk: this.#current, id: this.#currentId, used: this.#used };
  }

  /** Hands out the current chunk's bytes up to `used`, which its writer has filled. */
  advance(used: number): void {
    invariant(this.#currentId >= 0 && used >= this.#used && used <= this.chunkBytes, 'an arena advances within its current chunk');
    this.#used = used;
  }

  /** Bytes of memory the chunks take, handed out or not (what the process holds for them). */
  get allocatedBytes(): number {
    let n = 0;
    for (const c of this.chunks) n += c.byteLength;
    return n;
  }

  /** Bytes handed out plus the bytes that can no longer be handed out (abandoned tails). */
  get bytesInUse(): number {
    return this.#currentId === NO_CHUNK_YET ? this.#retiredBytes : this.#retiredBytes + this.#used;
  }
}

function sharedBytes(length: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(length));
}
