// A table's point read in one call of the native addon (native/table_get.c): the bloom filter,
// the index's binary search and the search of the data block read from the file's mapping, as
// TableReader.get does them in JavaScript. The addon reads the decoded index and filter where
// they are (no copy), and the block cache's view for it (FileBlocks.native: which blocks it
// holds, and their contents, searched in place) and admission window. A block the cache
// admits, and one of megabytes, are left to the reader, which goes on from that block as it
// would have.

import type { RandomAccessFile } from '../base/fs.js';
import type { ValueKind } from '../base/internal-key.js';
import { native, type TableSearch as NativeSearch, type TableWalk as NativeWalk } from '../base/native.js';
import type { BlockCache, FileBlocks } from './block-cache.js';
import type { BloomFilter } from './bloom.js';
import { LARGE_BLOCK_BYTES } from './large-blocks.js';
import { BLOCK_CHECKS, scratchView, transientSeeks } from './physical-block.js';
import type { TableIndex } from './table-index.js';

/** Whether the addon can run a table's point read (and the file is mapped: TableSearch.of). */
const tableSearches = transientSeeks && native.tableSearch !== undefined && native.tableGet !== undefined && native.blockSlots !== undefined && native.setBlockSlot !== undefined;
/** Whether the addon can run several tables' point reads in one call (TableWalk). */
const tableWalks = tableSearches && native.tableWalk !== undefined && native.tablesGet !== undefined;

/** tableGet's answers. */
export const TABLE_ABSENT = 0;
export const TABLE_FOUND = 1;
export const TABLE_BLOCK = 2;

/** Where tableGet leaves every answer: native/table_get.c's out fields. */
const out = new Float64Array(10);
const OUT_CONTENTS_ERROR = 0;
const OUT_SEQ = 1;
const OUT_KIND = 2;
const OUT_VALUE_OFFSET = 3;
const OUT_VALUE_LENGTH = 4;
const OUT_BLOCK = 5;
const OUT_ADMIT = 6;
const OUT_MISSES = 7;
const OUT_HITS = 8;
const OUT_TABLE = 9;

/** What a point read found: its value a view of the scratch buffer, whose bytes change on the next read. */
export interface FoundEntry {
  seq: number;
  kind: ValueKind;
  value: Uint8Array;
}

/** Where a search left its caller to go on (TABLE_BLOCK): the data block, and whether the cache admitted it. */
export interface NextBlock {
  block: number;
  admitted: boolean;
}

/** The answer `answer` of tableGet or tablesGet, out's fields read into `found` or `next` (TableSearch.get says what each means). */
function readAnswer(answer: number | string, cache: BlockCache | undefined, found: FoundEntry, next: NextBlock, damaged: (block: number, contents: boolean, what: string, table: number) => Error): number {
  const misses = out[OUT_MISSES]!;
  const hits = out[OUT_HITS]!;
  if (misses + hits !== 0) cache?.count(misses, hits);
  if (answer === TABLE_ABSENT) return answer;
  if (answer === TABLE_FOUND) {
    found.seq = out[OUT_SEQ]!;
    found.kind = out[OUT_KIND] as ValueKind;
    found.value = scratchView(out[OUT_VALUE_OFFSET]!, out[OUT_VALUE_LENGTH]!);
    return answer;
  }
  if (typeof answer === 'string') throw damaged(out[OUT_BLOCK]!, out[OUT_CONTENTS_ERROR] === 1, answer, out[OUT_TABLE]!);
  next.block = out[OUT_BLOCK]!;
  next.admitted = out[OUT_ADMIT] === 1;
  return answer;
}

export class TableSearch {
  readonly #search: NativeSearch;
  readonly #cache: BlockCache | undefined;

  private constructor(search: NativeSearch, cache: BlockCache | undefined) {
    this.#search = search;
    this.#cache = cache;
  }

  /** The addon's search of a table, or undefined where it cannot run (no addon, a file not mapped). */
  static of(file: RandomAccessFile, fileNumber: number, index: TableIndex, filter: BloomFilter, cache: BlockCache | undefined, cached: FileBlocks | undefined): TableSearch | undefined {
    if (!tableSearches) return undefined;
    const mapped = file.mapped?.();
    if (mapped === undefined) return undefined;
    const { arrays, skip } = index.nativeParts();
    const { bits, probes } = filter.nativeParts();
    const admission = cache?.admission;
    const blocks = cache === undefined ? undefined : cached?.native(index.count);
    const bytes = blocks?.bytes ?? new Uint8Array(index.count);
    const numbers = new Float64Array([skip, probes, fileNumber, admission?.slotShift ?? 31, LARGE_BLOCK_BYTES, ...BLOCK_CHECKS]);
    return new TableSearch(native.tableSearch!([...arrays, bits, bytes, blocks === undefined ? null : admission!.window, mapped, blocks?.slots ?? null], numbers, out), cache);
  }

  /**
   * The newest entry for `key` at or below `seq` into `found` (TABLE_FOUND: its value a view of
   * the scratch buffer, whose bytes change on the next read), TABLE_ABSENT, or TABLE_BLOCK: the
   * caller goes on from data block `next.block`, which the cache has just admitted
   * (`next.admitted`) or is of megabytes. Throws CORRUPTION as the reader's own reads do:
   * through `damaged`, given the block's number, whether its contents were at fault, and what;
   * an error of the call itself (a file unmapped under it) through `failed`.
   */
  get(
    key: Uint8Array,
    seq: number,
    found: FoundEntry,
    next: NextBlock,
    damaged: (block: number, contents: boolean, what: string) => Error,
    failed: (err: unknown) => Error,
  ): number {
    let answer: number | string;
    try {
      answer = native.tableGet!(this.#search, key, seq);
    } catch (err) {
      throw failed(err);
    }
    return readAnswer(answer, this.#cache, found, next, damaged);
  }

  /** The addon's handle, for a TableWalk. */
  get handle(): NativeSearch {
    return this.#search;
  }
}

/** A table a walk consults: its user-key range and its oldest entry (Version.get's mayHold). */
export interface TableSpan {
  readonly smallestKey: Uint8Array;
  readonly largestKey: Uint8Array;
  readonly smallestSeq: number;
}

/**
 * Tables a get consults one after another (level 0's, newest first, then each deeper level's
 * file that reaches the key), searched in one call of the addon (tablesGet) up to the first
 * that answers, instead of one call a table. It holds
 * the tables' searches but not their files: its owner (TableCache) keeps it only while every
 * one of its readers is open.
 */
export class TableWalk {
  readonly #walk: NativeWalk;
  readonly #cache: BlockCache | undefined;

  private constructor(walk: NativeWalk, cache: BlockCache | undefined) {
    this.#walk = walk;
    this.#cache = cache;
  }

  /**
   * The walk of `searches` (the tables of `spans`, in order, sharing `cache`), or undefined
   * where the addon cannot run one. `ends`: where each table's run ends (a level's sorted,
   * disjoint files are one run, of which a get consults the one reaching its key); without,
   * every table is a run of its own (level 0's).
   */
  static of(searches: readonly TableSearch[], spans: readonly TableSpan[], cache: BlockCache | undefined, ends?: Uint32Array): TableWalk | undefined {
    if (!tableWalks || searches.length === 0) return undefined;
    const bounds = spans.flatMap((s) => [s.smallestKey, s.largestKey]);
    const seqs = Float64Array.from(spans, (s) => s.smallestSeq);
    return new TableWalk(native.tableWalk!(searches.map((s) => s.handle), bounds, seqs, ends ?? Uint32Array.from(spans, (_, i) => i + 1)), cache);
  }

  /**
   * TableSearch.get of the tables from `from` on, skipping those whose span cannot hold (key,
   * seq), up to the first answer that is not TABLE_ABSENT: `next.table` names the table that
   * gave it (and the one `damaged` and `failed` are asked about).
   */
  get(
    from: number,
    key: Uint8Array,
    seq: number,
    found: FoundEntry,
    next: NextBlock & { table: number },
    damaged: (block: number, contents: boolean, what: string, table: number) => Error,
    failed: (err: unknown, table: number) => Error,
  ): number {
    let answer: number | string;
    try {
      answer = native.tablesGet!(this.#walk, from, key, seq);
    } catch (err) {
      throw failed(err, out[OUT_TABLE]!);
    }
    next.table = out[OUT_TABLE]!;
    return readAnswer(answer, this.#cache, found, next, damaged);
  }
}
