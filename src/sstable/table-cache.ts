// A bounded set of open TableReaders, least recently used first out.
//
// A reader handed out by acquire() stays usable until its handle is released, even if the
// cache evicted it meanwhile (it closes at the last release), and an iterator keeps its
// reader's file open until the iterator closes (TableReader's own references). So
// openFiles, the cache's bound, counts the readers the cache keeps; a few evicted readers
// may still hold descriptors for their remaining users.

import { closedError, invalidArgument } from '../base/errors.js';
import type { FileSystem } from '../base/fs.js';
import type { BlockCache } from './block-cache.js';
import { TableReader } from './table-reader.js';

export interface TableCacheOptions {
  /** Readers kept open; at least 1. */
  maxOpenFiles: number;
  /** Shared by every reader; undefined caches no blocks. */
  blockCache: BlockCache | undefined;
}

interface Entry {
  readonly reader: TableReader;
  users: number;
  evicted: boolean;
}

export class TableCache {
  readonly #fs: FileSystem;
  readonly #fileNameOf: (fileNumber: number) => string;
  readonly #maxOpenFiles: number;
  readonly #blockCache: BlockCache | undefined;
  /** In recency order: the first entry is the least recently used. */
  readonly #entries = new Map<number, Entry>();
  #closed = false;

  constructor(fs: FileSystem, fileNameOf: (fileNumber: number) => string, options: TableCacheOptions) {
    if (!Number.isSafeInteger(options.maxOpenFiles) || options.maxOpenFiles < 1) throw invalidArgument(`maxOpenFiles must be a positive integer, not ${options.maxOpenFiles}`);
    this.#fs = fs;
    this.#fileNameOf = fileNameOf;
    this.#maxOpenFiles = options.maxOpenFiles;
    this.#blockCache = options.blockCache;
  }

  get openFiles(): number {
    return this.#entries.size;
  }

  /**
   * An open reader of table `fileNumber`; the caller must release() it (idempotent). Throws
   * what TableReader.open throws (CORRUPTION, NOT_SUPPORTED) or IO_ERROR.
   */
  acquire(fileNumber: number): { reader: TableReader; release(): void } {
    if (this.#closed) throw closedError('table cache');
    let entry = this.#entries.get(fileNumber);
    if (entry !== undefined) {
      this.#entries.delete(fileNumber);
    } else {
      entry = { reader: this.#open(fileNumber), users: 0, evicted: false };
    }
    this.#entries.set(fileNumber, entry);
    this.#shrink();
    entry.users++;
    const e = entry;
    let released = false;
    return {
      reader: e.reader,
      release: () => {
        if (released) return;
        released = true;
        if (--e.users === 0 && e.evicted) e.reader.close();
      },
    };
  }

  /** Closes and forgets table `fileNumber` and drops its cached blocks (its file is being deleted). */
  evict(fileNumber: number): void {
    const entry = this.#entries.get(fileNumber);
    if (entry !== undefined) this.#drop(fileNumber, entry);
    this.#blockCache?.evictFile(fileNumber);
  }

  /** Closes every reader (each once its users release it). Idempotent; acquire() then throws CLOSED. */
  close(): void {
    this.#closed = true;
    for (const [fileNumber, entry] of this.#entries) this.#drop(fileNumber, entry);
  }

  #open(fileNumber: number): TableReader {
    const file = this.#fs.openReadable(this.#fileNameOf(fileNumber));
    try {
      return TableReader.open(file, fileNumber, this.#blockCache);
    } catch (err) {
      file.close();
      throw err;
    }
  }

  #shrink(): void {
    for (const [fileNumber, entry] of this.#entries) {
      if (this.#entries.size <= this.#maxOpenFiles) return;
      this.#drop(fileNumber, entry);
    }
  }

  #drop(fileNumber: number, entry: Entry): void {
    this.#entries.delete(fileNumber);
    entry.evicted = true;
    if (entry.users === 0) entry.reader.close();
  }
}
