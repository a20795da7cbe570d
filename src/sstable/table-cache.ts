// A bounded set of open TableReaders, least recently used first out.
//
// A reader handed out by acquire() stays usable until its handle is released, even if the
// cache evicted it meanwhile (it closes at the last release), and an iterator keeps its
// reader's file open until the iterator closes (TableReader's own references). So
// openFiles, the cache's bound, counts the readers the cache keeps; a few evicted readers
// may still hold descriptors for their remaining users.
//
// A get() run by an asynchronous read (large-blocks.ts: `deferring` set) that needs a table
// not open does not open it on the event loop's thread: it throws a BlockDeferred whose `load`
// opens the table with TableReader.openAsync (its index and filter blocks read, checked and
// decompressed on libuv's thread pool) and keeps it, and the read runs again. Opening a table
// of a million keys holds the thread 10 to 30 ms the first time (3 ms once compiled); a get
// should not. One open per table at a time; a table evicted (deleted) while it opens is
// closed at the end instead of kept. An iterator read through the asynchronous API waits for
// whenOpen() of the tables its next positioning reaches, which opens them the same way.
// Synchronous reads and acquire() open tables where they are.

import { compareBytes } from '../base/bytes.js';
import { closedError, invalidArgument } from '../base/errors.js';
import type { FileSystem } from '../base/fs.js';
import type { SeqNum } from '../base/internal-key.js';
import type { BlockCache } from './block-cache.js';
import { BlockDeferred, type LargeBlocks } from './large-blocks.js';
import { TableReader } from './table-reader.js';
import { TABLE_ABSENT, TABLE_FOUND, TableWalk, type FoundEntry, type TableSpan } from './table-search.js';

const EMPTY = new Uint8Array(0);

export interface TableCacheOptions {
  /** Readers kept open; at least 1. */
  maxOpenFiles: number;
  /** Shared by every reader; undefined caches no blocks. */
  blockCache: BlockCache | undefined;
  /** Where asynchronous reads defer large blocks (large-blocks.ts); undefined reads them in place. */
  largeBlocks?: LargeBlocks;
}

/** A table getFirst() consults: its file and its span. */
export interface TableToRead extends TableSpan {
  readonly fileNumber: number;
}

/** walkGet()'s answer when it could not walk the tables (one not open, or no addon). */
export const NOT_WALKED = Symbol('not walked');

/** A walk's readers are marked used once every this many gets (a power of two). */
const TOUCH_EVERY = 64;

/** getFirst()'s walk of one list of tables, made while `generation` was the cache's. */
interface Walk {
  readonly generation: number;
  /** Gets through it, for TOUCH_EVERY. */
  gets: number;
  /** undefined: a table was not open, or the addon cannot walk them. */
  readonly walk: TableWalk | undefined;
  readonly entries: readonly Entry[];
  /** The walk's error makers: the reader of table `table` of `entries` says what went wrong. */
  readonly damaged: (block: number, contents: boolean, what: string, table: number) => Error;
  readonly failed: (err: unknown, table: number) => Error;
}

/** What a table's get() answers. */
type Hit = ReturnType<TableReader['get']>;

/**
 * Whether a table of span `t` may hold an entry for `key` at or below `seq`: the key inside its
 * key range, and an entry old enough to see (Version.get skips the others without a read; the
 * addon's walk checks the same).
 */
export function mayHold(t: TableSpan, key: Uint8Array, seq: SeqNum): boolean {
  return compareBytes(key, t.smallestKey) >= 0 && compareBytes(key, t.largestKey) <= 0 && t.smallestSeq <= seq;
}

class Entry {
  users = 0;
  evicted = false;
  /** When it was last acquired, in acquire() calls: the smallest is the least recently used. */
  lastUse = 0;
  constructor(readonly reader: TableReader) {}
}

/** What acquire() hands out: the reader, until release() (which may be called detached). */
function handleOf(entry: Entry): { reader: TableReader; release(): void } {
  let released = false;
  return {
    reader: entry.reader,
    release: () => {
      if (released) return;
      released = true;
      if (--entry.users === 0 && entry.evicted) entry.reader.close();
    },
  };
}

export class TableCache {
  readonly #fs: FileSystem;
  readonly #fileNameOf: (fileNumber: number) => string;
  readonly #maxOpenFiles: number;
  readonly #blockCache: BlockCache | undefined;
  readonly #largeBlocks: LargeBlocks | undefined;
  readonly #entries = new Map<number, Entry>();
  /** Tables being opened for deferred gets (#openAsync), by file number. */
  readonly #opening = new Map<number, Promise<undefined>>();
  #uses = 0;
  #closed = false;
  /** Changes whenever a reader is kept or dropped: a walk made under another is not used. */
  #generation = 0;
  /** getFirst()'s walks, by the list of tables they walk (a version's level 0). */
  #walks = new WeakMap<readonly TableToRead[], Walk>();
  readonly #walkNext = { block: 0, admitted: false, table: 0 };

  constructor(fs: FileSystem, fileNameOf: (fileNumber: number) => string, options: TableCacheOptions) {
    if (!Number.isSafeInteger(options.maxOpenFiles) || options.maxOpenFiles < 1) throw invalidArgument(`maxOpenFiles must be a positive integer, not ${options.maxOpenFiles}`);
    this.#fs = fs;
    this.#fileNameOf = fileNameOf;
    this.#maxOpenFiles = options.maxOpenFiles;
    this.#blockCache = options.blockCache;
    this.#largeBlocks = options.largeBlocks;
  }

  get openFiles(): number {
    return this.#entries.size;
  }

  /** Bytes of index and filter blocks the open readers keep (a scan over the open readers). */
  get indexAndFilterBytes(): number {
    let n = 0;
    for (const entry of this.#entries.values()) n += entry.reader.indexAndFilterBytes;
    return n;
  }

  /**
   * An open reader of table `fileNumber`; the caller must release() it (idempotent). Throws
   * what TableReader.open throws (CORRUPTION, NOT_SUPPORTED) or IO_ERROR.
   */
  acquire(fileNumber: number): { reader: TableReader; release(): void } {
    const entry = this.#entry(fileNumber);
    entry.users++;
    return handleOf(entry);
  }

  /**
   * TableReader.get on table `fileNumber`: acquire(), get(), release() in one call, without a
   * handle. The value is a view into the block, as TableReader.get says.
   */
  get(fileNumber: number, key: Uint8Array, snapshotSeq: SeqNum): ReturnType<TableReader['get']> {
    // get() is synchronous and nothing in it evicts or closes readers: no reference needed.
    const entry = this.#entries.get(fileNumber);
    if (entry === undefined || this.#closed) return this.#readerToOpen(fileNumber).get(key, snapshotSeq);
    entry.lastUse = ++this.#uses;
    return entry.reader.get(key, snapshotSeq);
  }

  /**
   * The newest entry for `key` at or below `snapshotSeq` in the first of `tables` that holds
   * one, consulted in order (level 0's tables, newest first), skipping those whose span cannot
   * hold it; as get() on each in turn. Where every one is open (and the addon can), one call of
   * the addon searches them all (TableWalk): a get over four level-0 tables crossed into it four
   * times, and ran the JavaScript of each table's lookup.
   */
  getFirst(tables: readonly TableToRead[], key: Uint8Array, snapshotSeq: SeqNum): Hit {
    const hit = this.walkGet(tables, undefined, key, snapshotSeq);
    if (hit !== NOT_WALKED) return hit;
    for (const table of tables) {
      if (!mayHold(table, key, snapshotSeq)) continue;
      const hit = this.get(table.fileNumber, key, snapshotSeq);
      if (hit) return hit;
    }
    return undefined;
  }

  /**
   * getFirst() through one walk of the addon, where every one of `tables` is open (and the
   * addon can); else NOT_WALKED, for the caller to consult them itself. `ends`: where each
   * table's run ends (TableWalk.of): a level's files are one run, of which the walk consults
   * the one reaching the key (Version.get hands every level's tables at once); without, each
   * table is consulted as getFirst() says.
   */
  walkGet(tables: readonly TableToRead[], ends: Uint32Array | undefined, key: Uint8Array, snapshotSeq: SeqNum): Hit | typeof NOT_WALKED {
    const walked = this.#walkOf(tables, ends);
    if (walked === undefined) return NOT_WALKED;
    const { walk, entries } = walked;
    // The walk's readers count as used (for maxOpenFiles' choice of which to close) every
    // TOUCH_EVERY gets: once a get, a walk over every level's files cost as much as the get.
    if ((walked.gets++ & (TOUCH_EVERY - 1)) === 0) for (const entry of entries) entry.lastUse = ++this.#uses;
    const next = this.#walkNext;
    for (let from = 0; from < entries.length; from = next.table + 1) {
      const found: FoundEntry = { seq: 0, kind: 0 as FoundEntry['kind'], value: EMPTY };
      const answer = walk.get(from, key, snapshotSeq, found, next, walked.damaged, walked.failed);
      if (answer === TABLE_ABSENT) return undefined;
      if (answer === TABLE_FOUND) return found;
      const hit = entries[next.table]!.reader.getFrom(key, snapshotSeq, next.block, next.admitted);
      if (hit) return hit;
    }
    return undefined;
  }

  /** The walk of `tables` (with their runs' `ends`) while every one is open, made at most once a generation. */
  #walkOf(tables: readonly TableToRead[], ends: Uint32Array | undefined): (Walk & { walk: TableWalk }) | undefined {
    if (this.#closed || tables.length < 2) return undefined;
    let walked = this.#walks.get(tables);
    if (walked === undefined || walked.generation !== this.#generation) {
      const entries: Entry[] = [];
      for (const table of tables) {
        const entry = this.#entries.get(table.fileNumber);
        if (entry === undefined || entry.reader.pointSearch === undefined) break;
        entries.push(entry);
      }
      const walk = entries.length === tables.length ? TableWalk.of(entries.map((e) => e.reader.pointSearch!), tables, this.#blockCache, ends) : undefined;
      walked = {
        generation: this.#generation,
        walk,
        entries,
        gets: 0,
        damaged: (block, contents, what, table) => entries[table]!.reader.blockDamage(block, contents, what),
        failed: (err, table) => entries[table]!.reader.searchFailure(err),
      };
      this.#walks.set(tables, walked);
    }
    return walked.walk === undefined ? undefined : (walked as Walk & { walk: TableWalk });
  }

  /** get()'s reader of a table not open: opened in the call, or (deferring) thrown for. */
  #readerToOpen(fileNumber: number): TableReader {
    if (this.#largeBlocks?.deferring === true && !this.#closed) throw new BlockDeferred(fileNumber, -1, this.#opening.get(fileNumber) ?? this.#openAsync(fileNumber));
    return this.#entry(fileNumber).reader;
  }

  /**
   * Opens the tables of `fileNumbers` that are not open off the event loop's thread, as
   * deferred gets do, so that a caller about to acquire them (a compaction's cuts) finds them
   * open instead of opening each in the call. A table that fails to open is left for that
   * caller's own open to meet the same error. An open already under way (a get's) is not
   * waited for: its reads may queue behind others, and the caller would wait on them.
   */
  async openAhead(fileNumbers: readonly number[]): Promise<void> {
    const opening: Promise<undefined>[] = [];
    for (const n of fileNumbers) {
      if (this.#closed || this.#entries.has(n) || this.#opening.has(n)) continue;
      opening.push(this.#openAsync(n).catch(() => undefined));
    }
    await Promise.all(opening);
  }

  /**
   * undefined when every table of `fileNumbers` is open; else a promise that settles once each
   * is open, or failed to open (the caller's own open then meets the error), opening them off
   * the event loop's thread as openAhead() does but also waiting for opens already under way.
   */
  whenOpen(fileNumbers: readonly number[]): Promise<void> | undefined {
    let opening: Promise<undefined>[] | undefined;
    for (const n of fileNumbers) {
      if (this.#closed || this.#entries.has(n)) continue;
      (opening ??= []).push((this.#opening.get(n) ?? this.#openAsync(n)).catch(() => undefined));
    }
    return opening === undefined ? undefined : Promise.all(opening).then(() => undefined);
  }

  /** Opens table `fileNumber` off the event loop's thread and keeps it (undefined: nothing to hand back). */
  #openAsync(fileNumber: number): Promise<undefined> {
    // Assigned before its body runs past the first await, where it is compared.
    let opening: Promise<undefined> | undefined;
    opening = (async () => {
      // A microtask first: the lookup that asked throws before anything here runs.
      await undefined;
      try {
        const file = this.#fs.openReadable(this.#fileNameOf(fileNumber));
        let reader: TableReader;
        try {
          reader = await TableReader.openAsync(file, fileNumber, this.#blockCache, this.#largeBlocks);
        } catch (err) {
          file.close();
          throw err;
        }
        // evict() and close() forget the opening: the table is on its way out.
        if (this.#opening.get(fileNumber) !== opening || this.#entries.has(fileNumber)) {
          reader.close();
          return undefined;
        }
        this.#keep(fileNumber, reader);
        return undefined;
      } finally {
        if (this.#opening.get(fileNumber) === opening) this.#opening.delete(fileNumber);
      }
    })();
    this.#opening.set(fileNumber, opening);
    return opening;
  }

  /** The open reader of table `fileNumber`, not marked as used; undefined when it is not open. */
  peek(fileNumber: number): TableReader | undefined {
    return this.#closed ? undefined : this.#entries.get(fileNumber)?.reader;
  }

  /** Closes and forgets table `fileNumber` and drops its cached blocks (its file is being deleted). */
  evict(fileNumber: number): void {
    this.#opening.delete(fileNumber);
    const entry = this.#entries.get(fileNumber);
    if (entry !== undefined) this.#drop(fileNumber, entry);
    this.#blockCache?.evictFile(fileNumber);
  }

  /** Closes every reader (each once its users release it). Idempotent; acquire() then throws CLOSED. */
  close(): void {
    this.#closed = true;
    this.#opening.clear();
    for (const [fileNumber, entry] of this.#entries) this.#drop(fileNumber, entry);
  }

  /** The entry of `fileNumber`, opened if needed, marked as used now. */
  #entry(fileNumber: number): Entry {
    if (this.#closed) throw closedError('table cache');
    const entry = this.#entries.get(fileNumber);
    if (entry === undefined) return this.#keep(fileNumber, this.#open(fileNumber));
    entry.lastUse = ++this.#uses;
    return entry;
  }

  /** Keeps the newly opened `reader` of `fileNumber` as the most recently used, within the bound. */
  #keep(fileNumber: number, reader: TableReader): Entry {
    this.#generation++;
    const entry = new Entry(reader);
    this.#entries.set(fileNumber, entry);
    entry.lastUse = ++this.#uses;
    this.#shrink();
    return entry;
  }

  #open(fileNumber: number): TableReader {
    return TableReader.openPath(this.#fs, this.#fileNameOf(fileNumber), fileNumber, this.#blockCache, this.#largeBlocks);
  }

  /** Drops least recently used readers down to maxOpenFiles (a scan: it runs only when a table opens). */
  #shrink(): void {
    while (this.#entries.size > this.#maxOpenFiles) {
      let oldest: number | undefined;
      let oldestUse = Infinity;
      for (const [fileNumber, entry] of this.#entries) {
        if (entry.lastUse < oldestUse) {
          oldestUse = entry.lastUse;
          oldest = fileNumber;
        }
      }
      this.#drop(oldest!, this.#entries.get(oldest!)!);
    }
  }

  #drop(fileNumber: number, entry: Entry): void {
    this.#generation++;
    this.#entries.delete(fileNumber);
    entry.evicted = true;
    if (entry.users === 0) entry.reader.close();
  }
}
