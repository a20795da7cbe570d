// A Version: the set of live table files, per level, at one moment. Immutable once built.
//
// Level 0 holds flushed memtables, which may overlap; they are kept newest first (by largest
// sequence number), the order in which reads consult them. Levels 1 and below are each one
// sorted run of non-overlapping files, kept in key order.
//
// Readers that outlive one synchronous step (iterators) ref() the version they read so that
// its files are not deleted under them; the version set deletes a file only when no live
// version names it.

import { compareBytes, invariant } from '../base/index.js';
import type { TableMeta, VersionEdit } from './version-edit.js';

export const NUM_LEVELS = 7;

export class Version {
  /** levels[i] is the files of level i; see the ordering rules above. */
  readonly levels: readonly (readonly TableMeta[])[];
  #refs = 0;
  #onUnreferenced: ((v: Version) => void) | undefined;

  constructor(levels: readonly (readonly TableMeta[])[], onUnreferenced?: (v: Version) => void) {
    invariant(levels.length === NUM_LEVELS, 'a version has NUM_LEVELS levels');
    this.levels = levels;
    this.#onUnreferenced = onUnreferenced;
  }

  static empty(): Version {
    return new Version(Array.from({ length: NUM_LEVELS }, () => []));
  }

  ref(): void {
    this.#refs++;
  }

  unref(): void {
    invariant(this.#refs > 0, 'Version.unref without ref');
    if (--this.#refs === 0) this.#onUnreferenced?.(this);
  }

  get refs(): number {
    return this.#refs;
  }

  /** A new version: this one with `edit`'s removals and additions applied. */
  apply(edit: VersionEdit, onUnreferenced?: (v: Version) => void): Version {
    const levels = this.levels.map((files) => [...files]);
    for (const { level, fileNumber } of edit.removed ?? []) {
      const files = levels[level];
      invariant(files !== undefined, `level ${level} exists`);
      const i = files.findIndex((f) => f.fileNumber === fileNumber);
      if (i >= 0) files.splice(i, 1);
    }
    for (const { level, table } of edit.added ?? []) {
      const files = levels[level];
      invariant(files !== undefined, `level ${level} exists`);
      files.push(table);
    }
    levels[0]!.sort((a, b) => b.largestSeq - a.largestSeq || b.fileNumber - a.fileNumber);
    for (let i = 1; i < NUM_LEVELS; i++) levels[i]!.sort((a, b) => compareBytes(a.smallestKey, b.smallestKey));
    return new Version(levels, onUnreferenced);
  }

  /** Every file of every level, for listing and deletion checks. */
  *allFiles(): Iterable<{ level: number; table: TableMeta }> {
    for (let level = 0; level < NUM_LEVELS; level++) {
      for (const table of this.levels[level]!) yield { level, table };
    }
  }
}
