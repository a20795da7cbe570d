// A cursor over one block (block-format.ts). It decodes the current entry into its own fields
// and a reusable key buffer, so that scanning and seeking allocate nothing per entry; key()
// and value() make views only when asked.
//
// Bytes that break the format (after the block's checksum passed, so only a bug or a checksum
// collision) throw CORRUPTION naming the file and the block's offset: never a wrong entry.

import { corruption, type StrataError } from '../base/errors.js';
import { isValueKind, type SeqNum, type ValueKind } from '../base/internal-key.js';
import { Block, ENTRY_TRAILER_BYTES } from './block-format.js';
import { compareInternalRange, compareRange } from './key-compare.js';

/** Stands in for a block until the first reset(); REQUIRES: reset() before any move. */
const NO_BLOCK = new Block(Buffer.from([0, 0, 0, 0, 0, 1, 0, 0, 0]), '(no block)', 0);

export class BlockIter {
  #block: Block = NO_BLOCK;
  #data: Buffer = NO_BLOCK.data;
  #restarts: Uint32Array = NO_BLOCK.restarts;
  /** End of the entries. */
  #end = 0;
  /** Offset of the current entry; -1 when not positioned. */
  #current = -1;
  /** Offset of the entry after the current one. */
  #next = 0;
  /** The last restart point at or before #current. */
  #restartIndex = 0;
  #key: Buffer = Buffer.allocUnsafe(64);
  #keyLength = 0;
  /** The view key() last made, of #key: the key when its length is #keyLength. Reset with #key. */
  #keyView: Buffer = this.#key.subarray(0, 0);
  #seq: SeqNum = 0;
  #kind: ValueKind = 0;
  #valueOffset = 0;
  #valueLength = 0;

  /** Points the cursor at `block`, unpositioned. */
  reset(block: Block): void {
    this.#block = block;
    this.#data = block.data;
    this.#restarts = block.restarts;
    this.#end = block.restartsOffset;
    this.#current = -1;
  }

  /** Forgets the block (the cursor holds no reference to its bytes), unpositioned. */
  clear(): void {
    this.reset(NO_BLOCK);
  }

  valid(): boolean {
    return this.#current >= 0;
  }

  seekToFirst(): void {
    this.#toRestart(0);
    this.#parseNext();
  }

  seekToLast(): void {
    this.#toRestart(this.#block.numRestarts - 1);
    while (this.#parseNext() && this.#next < this.#end);
  }

  /**
   * Positions at the first entry at or after (key, seq) in internal order. The entries passed
   * over are compared where they lie, and only the one found is decoded into the cursor.
   */
  seek(key: Uint8Array, seq: number): void {
    // Binary search for the last restart point before the target, then scan forward.
    let lo = 0;
    let hi = this.#block.numRestarts - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.#restartKeyBefore(mid, key, seq)) lo = mid;
      else hi = mid - 1;
    }
    this.#scanTo(lo, key, seq);
  }

  /**
   * Scans from restart point `restart` to the first entry at or after (key, seq). Every entry
   * passed over sorts before the target, so its user key either matches the target's first
   * `matched` bytes and then has a smaller byte, or is all of those bytes; an entry that
   * shares more than `matched` bytes with it therefore sorts before the target as well,
   * without a look at its bytes. The others are compared from their shared length on, in the
   * block: their first `shared` bytes are the target's.
   */
  #scanTo(restart: number, key: Uint8Array, seq: number): void {
    const d = this.#data;
    const end = this.#end;
    const keyLength = key.length;
    this.#restartIndex = restart;
    let p = this.#restarts[restart]!;
    let previousLength = 0;
    let matched = 0;
    while (p < end) {
      const q = readEntryHeader(d, p, end);
      const { shared, unshared, valueLength } = header;
      if (q < 0 || shared > previousLength) throw this.#corrupt(p, 'malformed entry header');
      const valueOffset = q + unshared + ENTRY_TRAILER_BYTES;
      if (valueOffset + valueLength > end) throw this.#corrupt(p, 'entry runs past the end of the block');
      const entryLength = shared + unshared;
      if (shared <= matched) {
        const n = entryLength < keyLength ? entryLength : keyLength;
        let i = shared;
        let c = 0;
        for (; i < n; i++) {
          c = d[q + i - shared]! - key[i]!;
          if (c !== 0) break;
        }
        if (c === 0) c = entryLength - keyLength;
        if (c === 0) {
          const s = q + unshared;
          const entrySeq = getSeq(d, s);
          c = entrySeq > seq ? -1 : entrySeq < seq ? 1 : 0;
        }
        if (c >= 0) {
          this.#positionAt(p, key, shared, q, unshared, valueOffset, valueLength);
          return;
        }
        matched = i;
      }
      previousLength = entryLength;
      p = valueOffset + valueLength;
    }
    this.#current = -1;
  }

  /**
   * Makes the entry at `p` current. REQUIRES: its first `shared` key bytes are key's, its key
   * suffix is d[q..q + unshared), and its header was checked.
   */
  #positionAt(p: number, key: Uint8Array, shared: number, q: number, unshared: number, valueOffset: number, valueLength: number): void {
    const d = this.#data;
    const keyLength = shared + unshared;
    if (keyLength > this.#key.length) this.#growKey(keyLength, 0);
    const own = this.#key;
    if (keyLength <= 32) {
      for (let i = 0; i < shared; i++) own[i] = key[i]!;
      for (let i = 0; i < unshared; i++) own[shared + i] = d[q + i]!;
    } else {
      own.set(key.subarray(0, shared), 0);
      d.copy(own, shared, q, q + unshared);
    }
    const s = q + unshared;
    const seq = getSeq(d, s);
    const kind = d[s + 8]!;
    if (seq < 0 || !isValueKind(kind)) throw this.#corrupt(p, 'entry has a bad sequence number or kind');
    this.#keyLength = keyLength;
    this.#seq = seq;
    this.#kind = kind;
    this.#valueOffset = valueOffset;
    this.#valueLength = valueLength;
    this.#current = p;
    this.#next = valueOffset + valueLength;
    const restarts = this.#restarts;
    while (this.#restartIndex + 1 < restarts.length && restarts[this.#restartIndex + 1]! <= p) this.#restartIndex++;
  }

  next(): void {
    this.#parseNext();
  }

  prev(): void {
    const original = this.#current;
    while (this.#restarts[this.#restartIndex]! >= original) {
      if (this.#restartIndex === 0) {
        this.#current = -1;
        return;
      }
      this.#restartIndex--;
    }
    this.#toRestart(this.#restartIndex);
    while (this.#parseNext() && this.#next < original);
  }

  /** The current user key: a view of the cursor's own buffer, rewritten when it moves. */
  key(): Uint8Array {
    const view = this.#keyView;
    if (view.length === this.#keyLength) return view;
    return (this.#keyView = this.#key.subarray(0, this.#keyLength));
  }

  get keyLength(): number {
    return this.#keyLength;
  }

  /** Copies the current user key to target[offset..]. */
  copyKey(target: Uint8Array, offset: number): void {
    const key = this.#key;
    const n = this.#keyLength;
    if (n > 32) key.copy(target, offset, 0, n);
    else for (let i = 0; i < n; i++) target[offset + i] = key[i]!;
  }

  /** Whether the current user key equals `key`. */
  keyEquals(key: Uint8Array): boolean {
    return this.#keyLength === key.length && compareRange(this.#key, 0, this.#keyLength, key) === 0;
  }

  seq(): SeqNum {
    return this.#seq;
  }

  kind(): ValueKind {
    return this.#kind;
  }

  value(): Uint8Array {
    return this.#data.subarray(this.#valueOffset, this.#valueOffset + this.#valueLength);
  }

  /** The block's bytes and the current value's place in them, for decoding without a view. */
  get data(): Buffer {
    return this.#data;
  }

  get valueOffset(): number {
    return this.#valueOffset;
  }

  get valueLength(): number {
    return this.#valueLength;
  }

  /** Replaces the key buffer by one of at least `length` bytes, keeping its first `keep`. */
  #growKey(length: number, keep: number): void {
    const grown = Buffer.allocUnsafe(Math.max(length, this.#key.length * 2));
    this.#key.copy(grown, 0, 0, keep);
    this.#key = grown;
    this.#keyView = grown.subarray(0, 0);
  }

  #toRestart(i: number): void {
    this.#restartIndex = i;
    this.#next = this.#restarts[i]!;
    this.#keyLength = 0;
  }

  /** Decodes the entry at #next; false (and unpositioned) at the end of the block. */
  #parseNext(): boolean {
    const p = this.#next;
    const end = this.#end;
    if (p >= end) {
      this.#current = -1;
      return false;
    }
    const d = this.#data;
    let q = readEntryHeader(d, p, end);
    const { shared, unshared, valueLength } = header;
    if (q < 0 || shared > this.#keyLength) throw this.#corrupt(p, 'malformed entry header');
    const valueOffset = q + unshared + ENTRY_TRAILER_BYTES;
    if (valueOffset + valueLength > end) throw this.#corrupt(p, 'entry runs past the end of the block');

    const keyLength = shared + unshared;
    if (keyLength > this.#key.length) this.#growKey(keyLength, shared);
    const key = this.#key;
    if (unshared <= 32) for (let i = 0; i < unshared; i++) key[shared + i] = d[q + i]!;
    else d.copy(key, shared, q, q + unshared);
    q += unshared;

    const lo = (d[q]! | (d[q + 1]! << 8) | (d[q + 2]! << 16) | (d[q + 3]! << 24)) >>> 0;
    const hi = (d[q + 4]! | (d[q + 5]! << 8) | (d[q + 6]! << 16) | (d[q + 7]! << 24)) >>> 0;
    const kind = d[q + 8]!;
    if (hi > 0x1f_ffff || !isValueKind(kind)) throw this.#corrupt(p, 'entry has a bad sequence number or kind');

    this.#keyLength = keyLength;
    this.#seq = hi * 0x1_0000_0000 + lo;
    this.#kind = kind;
    this.#valueOffset = valueOffset;
    this.#valueLength = valueLength;
    this.#current = p;
    this.#next = valueOffset + valueLength;
    const restarts = this.#restarts;
    while (this.#restartIndex + 1 < restarts.length && restarts[this.#restartIndex + 1]! <= p) this.#restartIndex++;
    return true;
  }

  /** Whether the key at restart point i sorts before (key, seq); decodes in place. */
  #restartKeyBefore(i: number, key: Uint8Array, seq: number): boolean {
    const p = this.#restarts[i]!;
    const d = this.#data;
    const end = this.#end;
    // shared is 0 at a restart; unshared and valueLength are usually one byte each.
    let q = p + 1;
    let unshared = d[q]!;
    if (unshared < 0x80) q++;
    else {
      unshared = slowVarint(d, q, end);
      q = varintEnd;
    }
    if (q < end && d[q]! < 0x80) q++;
    else if (slowVarint(d, q, end) >= 0) q = varintEnd;
    else q = -1;
    if (d[p] !== 0 || unshared < 0 || q < 0 || q + unshared + ENTRY_TRAILER_BYTES > end) {
      throw this.#corrupt(p, 'malformed entry at a restart point');
    }
    const s = q + unshared;
    const lo = (d[s]! | (d[s + 1]! << 8) | (d[s + 2]! << 16) | (d[s + 3]! << 24)) >>> 0;
    const hi = (d[s + 4]! | (d[s + 5]! << 8) | (d[s + 6]! << 16) | (d[s + 7]! << 24)) >>> 0;
    return compareInternalRange(d, q, s, hi * 0x1_0000_0000 + lo, key, seq) < 0;
  }

  #corrupt(entryOffset: number, what: string): StrataError {
    this.#current = -1;
    return corruption(this.#block.file, this.#block.fileOffset, `${what} (entry at byte ${entryOffset} of the block)`);
  }
}

/** Where the last slowVarint stopped; a module variable so that decoding allocates nothing. */
let varintEnd = 0;

/** The three lengths readEntryHeader decoded last (one object, reused: nothing allocated). */
const header = { shared: 0, unshared: 0, valueLength: 0 };

/**
 * Decodes the entry header (shared, unshared and value lengths, varint32 each, one byte in the
 * common case) at d[p..end) into `header`; returns the offset after it, or -1 if malformed.
 */
function readEntryHeader(d: Buffer, p: number, end: number): number {
  let q = p;
  let shared = d[q]!;
  if (shared < 0x80) q++;
  else {
    shared = slowVarint(d, q, end);
    q = varintEnd;
  }
  let unshared = q < end ? d[q]! : -1;
  if (unshared >= 0 && unshared < 0x80) q++;
  else {
    unshared = slowVarint(d, q, end);
    q = varintEnd;
  }
  let valueLength = q < end ? d[q]! : -1;
  if (valueLength >= 0 && valueLength < 0x80) q++;
  else {
    valueLength = slowVarint(d, q, end);
    q = varintEnd;
  }
  if (shared < 0 || unshared < 0 || valueLength < 0) return -1;
  header.shared = shared;
  header.unshared = unshared;
  header.valueLength = valueLength;
  return q;
}

/** A varint32 at d[p..end); -1 if it runs past `end` or is longer than 5 bytes. */
function slowVarint(d: Buffer, p: number, end: number): number {
  let result = 0;
  let scale = 1;
  const last = Math.min(end, p + 5);
  while (p < last) {
    const byte = d[p++]!;
    result += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      varintEnd = p;
      return result <= 0xffff_ffff ? result : -1;
    }
    scale *= 0x80;
  }
  return -1;
}

/** The seq u64 LE at d[s..s + 8); -1 if it does not fit in 53 bits. */
function getSeq(d: Buffer, s: number): number {
  const lo = (d[s]! | (d[s + 1]! << 8) | (d[s + 2]! << 16) | (d[s + 3]! << 24)) >>> 0;
  const hi = (d[s + 4]! | (d[s + 5]! << 8) | (d[s + 6]! << 16) | (d[s + 7]! << 24)) >>> 0;
  return hi > 0x1f_ffff ? -1 : hi * 0x1_0000_0000 + lo;
}
