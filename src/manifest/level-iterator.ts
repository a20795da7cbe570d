// LevelIterator: one cursor over the files of a level >= 1, which are sorted and do not
// overlap (or over one level-0 table), opening each table only when the cursor reaches it. An
// iterator over a database with many tables thus holds open one table per level, not all of
// them. A cursor that runs off one file into the next (a scan) has the next one after it
// opened ahead, off the event loop's thread (TableCache.openAhead), so that the scan finds it
// open when it gets there.

import { compareBytes, type InternalIterator, type SeqNum, type ValueKind } from '../base/index.js';
import type { OwnBlockBuffer, TableCache } from '../sstable/index.js';
import type { TableMeta } from './version-edit.js';

/**
 * Index of the first of `files` (sorted, non-overlapping: a level >= 1) whose largest key is
 * >= `key`: the only file that may hold `key`, and where a forward seek to it starts.
 * files.length when there is none.
 */
export function firstFileReaching(files: readonly TableMeta[], key: Uint8Array): number {
  let lo = 0;
  let hi = files.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(files[mid]!.largestKey, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Index of the last of `files` (sorted, non-overlapping) whose smallest key is <= `key`: where
 * a backward seek to it starts; -1 when there is none.
 */
export function lastFileStarting(files: readonly TableMeta[], key: Uint8Array): number {
  let lo = 0;
  let hi = files.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(files[mid]!.smallestKey, key) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

export class LevelIterator implements InternalIterator {
  readonly #files: readonly TableMeta[];
  readonly #cache: TableCache;
  #index = -1;
  #it: InternalIterator | undefined;
  #release: (() => void) | undefined;
  /** The buffer the level's seeks read blocks into, kept from one file's cursor to the next. */
  readonly #own: OwnBlockBuffer = { buffer: undefined };

  /** REQUIRES: `files` sorted by key and non-overlapping. */
  constructor(files: readonly TableMeta[], cache: TableCache) {
    this.#files = files;
    this.#cache = cache;
  }

  valid(): boolean {
    return this.#it !== undefined && this.#it.valid();
  }

  seekToFirst(): void {
    this.#open(0);
    this.#openAhead(1);
    this.#it?.seekToFirst();
    this.#skipForward();
  }

  seekToLast(): void {
    this.#open(this.#files.length - 1);
    this.#openAhead(this.#files.length - 2);
    this.#it?.seekToLast();
    this.#skipBackward();
  }

  seek(key: Uint8Array): void {
    // The first file whose largest key is >= key holds the first entry >= key, if any does.
    this.#open(firstFileReaching(this.#files, key));
    this.#it?.seek(key);
    this.#skipForward();
  }

  seekForPrev(key: Uint8Array): void {
    this.#open(lastFileStarting(this.#files, key));
    this.#it?.seekForPrev(key);
    this.#skipBackward();
  }

  next(): void {
    this.#it!.next();
    this.#skipForward();
  }

  prev(): void {
    this.#it!.prev();
    this.#skipBackward();
  }

  key(): Uint8Array {
    return this.#it!.key();
  }

  seq(): SeqNum {
    return this.#it!.seq();
  }

  kind(): ValueKind {
    return this.#it!.kind();
  }

  value(): Uint8Array {
    return this.#it!.value();
  }

  close(): void {
    this.#open(-1);
  }

  #skipForward(): void {
    while (this.#it !== undefined && !this.#it.valid()) {
      if (this.#index + 1 >= this.#files.length) return;
      this.#open(this.#index + 1);
      this.#openAhead(this.#index + 1);
      this.#it?.seekToFirst();
    }
  }

  #skipBackward(): void {
    while (this.#it !== undefined && !this.#it.valid()) {
      if (this.#index <= 0) return;
      this.#open(this.#index - 1);
      this.#openAhead(this.#index - 1);
      this.#it?.seekToLast();
    }
  }

  /** Has file `index` (if there is one) opened in the background: a scan reaches it next. */
  #openAhead(index: number): void {
    const file = this.#files[index];
    if (file !== undefined) void this.#cache.openAhead([file.fileNumber]);
  }

  /** Positions on file `index` (none when out of range), releasing the previous one. */
  #open(index: number): void {
    if (index === this.#index && this.#it !== undefined) return;
    this.#it?.close();
    this.#release?.();
    this.#it = undefined;
    this.#release = undefined;
    this.#index = index;
    const file = this.#files[index];
    if (file === undefined) return;
    const handle = this.#cache.acquire(file.fileNumber);
    this.#release = handle.release;
    this.#it = handle.reader.iterator(this.#own);
  }
}
