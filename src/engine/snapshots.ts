// The sequence numbers pinned by live snapshots and iterators. Compaction (and anything else
// that drops old versions) must keep, for each key, the newest version at or below each of
// them.

import { invariant, type SeqNum } from '../base/index.js';

export class SnapshotList {
  readonly #counts = new Map<SeqNum, number>();

  acquire(seq: SeqNum): void {
    this.#counts.set(seq, (this.#counts.get(seq) ?? 0) + 1);
  }

  release(seq: SeqNum): void {
    const n = this.#counts.get(seq);
    invariant(n !== undefined, 'release of a sequence that was not acquired');
    if (n === 1) this.#counts.delete(seq);
    else this.#counts.set(seq, n - 1);
  }

  /** Pinned sequence numbers, ascending. */
  sequences(): SeqNum[] {
    return [...this.#counts.keys()].sort((a, b) => a - b);
  }

  /**
   * The pinned sequence numbers and `published` (what new reads see), ascending. As a shard of
   * several, a pin (an entry of a cut: ShardPublication) may be above the clock's published
   * sequence; a later pin is never below an earlier one.
   */
  withNewest(published: SeqNum): SeqNum[] {
    const seqs = this.sequences();
    const last = seqs[seqs.length - 1];
    if (last === undefined || last < published) seqs.push(published);
    else if (!this.#counts.has(published)) {
      seqs.push(published);
      seqs.sort((a, b) => a - b);
    }
    return seqs;
  }

  get size(): number {
    let n = 0;
    for (const c of this.#counts.values()) n += c;
    return n;
  }
}
