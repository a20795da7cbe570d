// MergedCursor: one cursor over the shards' cursors, each at its entry of one cut. A key
// lives in exactly one shard, so merging is picking the smallest (in reverse the largest)
// of the shards' next entries; the limit counts merged entries.

import { compareBytes, type SeqNum } from '../base/index.js';
import type { Bounds, Cursor, Cut } from '../engine/index.js';

/**
 * One cursor over `shards`, shard i at `cut[i]` (pinned by the caller): one shard's own cursor needs no
 * merging and applies the limit itself; several run unlimited under a MergedCursor.
 */
export function openCursor(
  shards: readonly { iterator(seq: SeqNum, bounds: Bounds, reverse: boolean, limit: number): Cursor }[],
  cut: Cut,
  bounds: Bounds,
  reverse: boolean,
  limit: number,
): Cursor {
  if (shards.length === 1) return shards[0]!.iterator(cut[0]!, bounds, reverse, limit);
  const cursors: Cursor[] = [];
  try {
    for (let i = 0; i < shards.length; i++) cursors.push(shards[i]!.iterator(cut[i]!, bounds, reverse, -1));
  } catch (err) {
    for (const c of cursors) c.close();
    throw err;
  }
  return new MergedCursor(cursors, reverse, limit);
}

export class MergedCursor implements Cursor {
  readonly #children: readonly Cursor[];
  readonly #reverse: boolean;
  /** Each child's next entry, read ahead; undefined once a child is exhausted. */
  #heads: ([Buffer, Buffer] | undefined)[] = [];
  #loaded = false;
  #remaining: number;

  /** `children` run without a limit; `limit` < 0 means none. */
  constructor(children: readonly Cursor[], reverse: boolean, limit: number) {
    this.#children = children;
    this.#reverse = reverse;
    this.#remaining = limit < 0 ? Infinity : limit;
  }

  seek(target: Uint8Array): void {
    for (const c of this.#children) c.seek(target);
    this.#loaded = false;
  }

  ready(): Promise<void> | undefined {
    // Once loaded, each child is positioned: next() only moves one on.
    if (this.#loaded || this.#remaining <= 0) return undefined;
    let waits: Promise<void>[] | undefined;
    for (const c of this.#children) {
      const w = c.ready();
      if (w !== undefined) (waits ??= []).push(w);
    }
    return waits === undefined ? undefined : Promise.all(waits).then(() => undefined);
  }

  next(): [Buffer, Buffer] | undefined {
    if (this.#remaining <= 0) return undefined;
    if (!this.#loaded) {
      this.#heads = this.#children.map((c) => c.next());
      this.#loaded = true;
    }
    const heads = this.#heads;
    let best = -1;
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i];
      if (h === undefined) continue;
      if (best < 0) {
        best = i;
        continue;
      }
      const c = compareBytes(h[0], heads[best]![0]);
      if (this.#reverse ? c > 0 : c < 0) best = i;
    }
    if (best < 0) return undefined;
    const entry = heads[best]!;
    heads[best] = this.#children[best]!.next();
    this.#remaining--;
    return entry;
  }

  close(): void {
    for (const c of this.#children) c.close();
  }
}
