// StrataSnapshot: abstract-level's explicit snapshot token over a stratadb Snapshot. The
// stratadb snapshot is taken synchronously in db.snapshot(), so a write issued right after
// is not in it; abstract-level's reference counting keeps it pinned until the reads that
// use it have finished, and db.close() closes it.

import { AbstractSnapshot } from 'abstract-level';
import type { Snapshot } from '../index.js';

// abstract-level's typings omit the constructor: it takes { owner }, the database that
// closes the snapshot on its own close() (a sublevel, when the snapshot was taken on one).
const SnapshotBase = AbstractSnapshot as unknown as new (options: { owner: object }) => AbstractSnapshot;

export class StrataSnapshot extends SnapshotBase {
  /** The stratadb snapshot that reads with this token use. */
  readonly inner: Snapshot;

  /** @internal Created by StrataLevel's _snapshot(). */
  constructor(options: { owner: object }, inner: Snapshot) {
    super(options);
    this.inner = inner;
  }

  /** @internal Called once by AbstractSnapshot.close(), when no read uses the snapshot. */
  async _close(): Promise<void> {
    this.inner.release();
  }
}
