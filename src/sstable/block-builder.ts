// Builds one block in the format of block-format.ts.

import { putU32, putU64, putVarint, varintLength } from '../base/bytes.js';
import type { SeqNum, ValueKind } from '../base/internal-key.js';
import { ENTRY_TRAILER_BYTES, RESTART_BYTES } from './block-format.js';

export class BlockBuilder {
  readonly #restartInterval: number;
  #buf: Buffer = Buffer.allocUnsafe(8192);
  #length = 0;
  #restarts: number[] = [0];
  #sinceRestart = 0;
  #entries = 0;
  #lastKey: Buffer = Buffer.allocUnsafe(64);
  #lastKeyLength = 0;

  constructor(restartInterval: number) {
    this.#restartInterval = restartInterval;
  }

  get entries(): number {
    return this.#entries;
  }

  /** Bytes finish() would return now. */
  get estimatedBytes(): number {
    return this.#length + (this.#restarts.length + 1) * RESTART_BYTES;
  }

  /** REQUIRES: (key, seq) sorts after the previous entry of the block (TableBuilder checks it). */
  add(key: Uint8Array, seq: SeqNum, kind: ValueKind, value: Uint8Array): void {
    let shared = 0;
    if (this.#sinceRestart === this.#restartInterval) {
      this.#restarts.push(this.#length);
      this.#sinceRestart = 0;
    } else if (this.#entries > 0) {
      const n = Math.min(this.#lastKeyLength, key.length);
      const last = this.#lastKey;
      while (shared < n && last[shared] === key[shared]) shared++;
    }
    const unshared = key.length - shared;
    const need = varintLength(shared) + varintLength(unshared) + varintLength(value.length) + unshared + ENTRY_TRAILER_BYTES + value.length;
    this.#reserve(need);
    const buf = this.#buf;
    let p = putVarint(buf, this.#length, shared);
    p = putVarint(buf, p, unshared);
    p = putVarint(buf, p, value.length);
    for (let i = shared; i < key.length; i++) buf[p++] = key[i]!;
    putU64(buf, p, seq); // byte stores, not writeUInt32LE: its range checks show in a compaction's profile
    buf[p + 8] = kind;
    p += ENTRY_TRAILER_BYTES;
    buf.set(value, p);
    this.#length = p + value.length;

    if (key.length > this.#lastKey.length) {
      const grown = Buffer.allocUnsafe(Math.max(key.length, this.#lastKey.length * 2));
      this.#lastKey.copy(grown, 0, 0, shared);
      this.#lastKey = grown;
    }
    for (let i = shared; i < key.length; i++) this.#lastKey[i] = key[i]!;
    this.#lastKeyLength = key.length;
    this.#sinceRestart++;
    this.#entries++;
  }

  /**
   * Appends the restart array and returns the block's bytes: a view of the builder's buffer,
   * valid until reset(). REQUIRES: at least one entry.
   */
  finish(): Buffer {
    const n = this.#restarts.length;
    this.#reserve((n + 1) * RESTART_BYTES);
    let p = this.#length;
    for (const r of this.#restarts) {
      putU32(this.#buf, p, r);
      p += RESTART_BYTES;
    }
    putU32(this.#buf, p, n);
    return this.#buf.subarray(0, p + RESTART_BYTES);
  }

  reset(): void {
    this.#length = 0;
    this.#restarts = [0];
    this.#sinceRestart = 0;
    this.#entries = 0;
    this.#lastKeyLength = 0;
  }

  #reserve(extra: number): void {
    const need = this.#length + extra;
    if (need <= this.#buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(need, this.#buf.length * 2));
    this.#buf.copy(grown, 0, 0, this.#length);
    this.#buf = grown;
  }
}
