// KeyIndex: a hash table from a user key to the skip list node of its newest version, so that
// a point read finds a key in one or two probes instead of a search down the list, and an
// overwrite of a key finds where the new version goes.
//
// Open addressing with linear probing in one Int32Array of two ints a slot: a node's name (0
// for an empty slot: 0 is never a node's name, the head is the first record) and its key's
// hash. The hash beside the name lets a probe pass over other keys' slots without reading their
// nodes (each elsewhere in memory), and lets the table grow without reading any node. It
// grows when half full, so a probe sequence stays short; entries are never removed (nodes
// never leave a memtable). A growth rehashes every key on the writer's path (about 4 ms for
// 262k keys, 18 ms when the new table's pages are faulted in at the same time), so the owner
// grows a large table once to the size its memtable will need rather than by doublings
// (grow()'s `atLeast`).
//
// The owner (SkipList) drives the probes, since only it can compare a key with a node:
//   for (let s = index.firstSlot(hash); ; s = index.nextSlot(s)) { const n = index.nodeAt(s); ... }

const INITIAL_SLOTS = 1024;
/** The most slots a table grows to (its names are int32, and a memtable holds fewer keys). */
const MAX_SLOTS = 1 << 29;

/** Where a table's larger arrays come from and go back to (MemtablePool), so that the next memtable's index reuses them. */
export interface SlotArrays {
  /** An array of exactly `length` zeros, or undefined (the index allocates one). */
  takeSlots(length: number): Int32Array | undefined;
  /** An array the index no longer reads or writes. */
  giveSlots(slots: Int32Array): void;
}

export class KeyIndex {
  /** Slot i: [2i] its node (0: empty), [2i + 1] that node's key hash. */
  #slots: Int32Array = new Int32Array(2 * INITIAL_SLOTS);
  #mask = INITIAL_SLOTS - 1;
  #count = 0;
  readonly #arrays: SlotArrays | undefined;

  constructor(arrays?: SlotArrays) {
    this.#arrays = arrays;
  }

  /** The memory the table holds. */
  get bytes(): number {
    return this.#slots.byteLength;
  }

  /** The table itself, for a prefetch of the ints where a probe starts (2 * firstSlot()). */
  get table(): Int32Array {
    return this.#slots;
  }

  /** Slots - 1 (the table's slots are a power of two). */
  get mask(): number {
    return this.#mask;
  }

  /** Keys in the table. */
  get count(): number {
    return this.#count;
  }

  /** Counts `n` keys that a writer of `table` (the addon) put into empty slots. */
  added(n: number): void {
    this.#count += n;
  }

  firstSlot(hash: number): number {
    return hash & this.#mask;
  }

  nextSlot(slot: number): number {
    return (slot + 1) & this.#mask;
  }

  /** The node in `slot`, or 0 when it is empty. */
  nodeAt(slot: number): number {
    return this.#slots[2 * slot]!;
  }

  /** The key hash of the node in `slot` (meaningless for an empty slot). */
  hashAt(slot: number): number {
    return this.#slots[2 * slot + 1]!;
  }

  /**
   * Points the key of hash `hash` whose probe ended at `slot` (its own slot or an empty one) to
   * `node`.
   */
  set(slot: number, node: number, hash: number): void {
    if (this.#slots[2 * slot] === 0) this.#count++;
    this.#slots[2 * slot] = node;
    this.#slots[2 * slot + 1] = hash;
  }

  /**
   * Whether the table should grow before the next set() into an empty slot. The owner calls
   * grow() before probing, so that a slot it found stays valid until its set().
   */
  get full(): boolean {
    const capacity = this.#mask + 1;
    return this.#count * 2 >= capacity && capacity < MAX_SLOTS;
  }

  /** Doubles the table, or grows it to at least `atLeast` slots (a power of two) when that is larger. */
  grow(atLeast = 0): void {
    const old = this.#slots;
    let length = old.length * 2;
    while (length < 2 * atLeast && length < 2 * MAX_SLOTS) length *= 2;
    const slots = this.#arrays?.takeSlots(length) ?? new Int32Array(length);
    const mask = slots.length / 2 - 1;
    for (let i = 0; i < old.length; i += 2) {
      const node = old[i]!;
      if (node === 0) continue;
      const hash = old[i + 1]!;
      let s = hash & mask;
      while (slots[2 * s] !== 0) s = (s + 1) & mask;
      slots[2 * s] = node;
      slots[2 * s + 1] = hash;
    }
    this.#slots = slots;
    this.#mask = mask;
    this.#arrays?.giveSlots(old);
  }

  /** Gives the table's memory back (to its SlotArrays). REQUIRES: no call after. */
  recycle(): void {
    this.#arrays?.giveSlots(this.#slots);
    this.#slots = new Int32Array(0);
  }
}

/**
 * The hash of a user key from its four big-endian words (bytes 0..15, zero-padded, as the skip
 * list keeps them), its length and `tail` (the hash of bytes 16 on, 0 for a key of 16 bytes
 * or fewer). Equal keys hash alike; the words with the length tell keys of up to 16 bytes apart.
 */
export function keyHash(w0: number, w1: number, w2: number, w3: number, length: number, tail: number): number {
  let h = Math.imul(length ^ 0x9e37_79b9, 0x85eb_ca6b);
  h = mix(h, w0);
  h = mix(h, w1);
  h = mix(h, w2);
  h = mix(h, w3);
  h = mix(h, tail);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb_352d);
  h ^= h >>> 15;
  return h;
}

/** The hash of `bytes[from..to)`, the part of a key past its first 16 bytes. */
export function tailHash(bytes: Uint8Array, from: number, to: number): number {
  let h = 0;
  for (let i = from; i < to; i++) h = Math.imul(h ^ bytes[i]!, 0x0100_0193);
  return h;
}

function mix(h: number, word: number): number {
  let k = Math.imul(word, 0xcc9e_2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b87_3593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe654_6b64) | 0;
}
