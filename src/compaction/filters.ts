// Compaction filters: rules a compaction applies to each version it keeps, deciding that the
// version is, from now on, a deletion of its key. The mechanism is general; time-to-live is
// its first user (a later feature adds its own kind of filter here).
//
// A filter crosses postMessage with its job, so it is described as plain data (a
// CompactionFilterSpec) and made into code in the thread that runs the job (makeFilters).
// What a filter may decide, and why it is safe:
//   - It sees only the version compaction would keep for its snapshot stripe (job.ts rule 1:
//     the newest of its key in the stripe), never one a range tombstone or a newer version
//     already hides.
//   - 'delete' turns that version into a Delete of its key (seq kept), which then follows the
//     Delete rules (job.ts rule 2: dropped when nothing older can lie below). A version cannot
//     simply vanish: an older version of the key, below or in an older stripe, would come back.
//   - A filter must decide only what every reader would already see as absent (the ttl filter:
//     a put expired by the clock, which readers read as deleted whatever their snapshot), or
//     change what readers see in a way the feature documents.

import { isExpired, type ValueKind } from '../base/index.js';

/** A filter as plain data, for CompactionJob.filters. */
export type CompactionFilterSpec = {
  kind: 'ttl';
  /** The wall-clock time of the job (ms since the epoch): puts that expired by then are deleted. */
  nowMs: number;
};

export interface CompactionFilter {
  /** Names the filter in CompactionResult.filtered. */
  readonly name: CompactionFilterSpec['kind'];
  /** Whether the version (kind, value) of a key becomes a deletion of it. */
  deletes(kind: ValueKind, value: Uint8Array): boolean;
}

export function makeFilters(specs: readonly CompactionFilterSpec[]): CompactionFilter[] {
  return specs.map((spec) => {
    switch (spec.kind) {
      case 'ttl':
        return { name: 'ttl', deletes: (kind, value) => isExpired(kind, value, spec.nowMs) };
    }
  });
}
