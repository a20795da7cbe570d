/**
 * WalSet: the write-ahead logs of one engine's directory — the one owner of their lifecycle.
 * It creates, rotates, syncs, retains and deletes the log files (NNNNNN.log, one per
 * memtable), and reads them back for recovery. The engine decides when; this does it.
 *
 * Lifecycle of a log: stored (found at open, or created here) → current (the one the commit
 * pipeline appends to; at most one) → closed by a rotation (synced first) → released (the
 * owner's MANIFEST no longer needs it: release(below)) → deleted, once no pin holds it.
 *
 * Invariants:
 * 1. Only the current log is ever appended to, and only it can end torn: rotate() syncs the
 *    current log before the next one exists, then syncs the directory so the new name is
 *    durable before any group is written to it, and only then closes the old one.
 * 2. A log is deleted only after release() moved past it and while no pin holds it; the
 *    caller releases only once a durable MANIFEST edit moved its log number past the log
 *    (or, at open, once nothing may still read it). The current log is never released.
 * 3. Every unlink of a log happens in #unlink(), and each log is unlinked at most once at a
 *    time: it leaves the stored list before its unlink starts, and comes back if that fails,
 *    so that a later release() retries.
 * 4. Retention (for the change feed, which reads the logs): released logs are kept, newest
 *    first, while together with the logs a pin holds they fit the window (`retention.bytes`)
 *    and each was released at most `retention.ms` ago; a pin holds its logs past the window.
 *    What is kept is always a run of the newest released logs, so that a reader of old logs
 *    finds no hole in the middle. Retention is applied at every release() and pin move, and
 *    by expire().
 *
 * This folder sits below the MANIFEST: a log is known by its file number, not by a version.
 */

import { invariant, parseFileName, walFileName, type FileSystem } from '../base/index.js';
import { readLog } from './log-reader.js';
import { LogWriter, WAL_PREALLOCATE_BYTES } from './log-writer.js';

/**
 * Holds every log numbered `from` or above on disk, released or not, until moved past or
 * dropped: the seam for a reader of old logs (a change feed) that must outlive their flush.
 */
export interface WalPin {
  /** The lowest log number held. */
  readonly from: number;
  /** Holds from `from` on instead (only forward); resolves once the logs let go are deleted. */
  advance(from: number): Promise<void>;
  /** Holds nothing any more; resolves once the released logs it held are deleted. */
  drop(): Promise<void>;
}

/** How much of its released logs a WalSet keeps (invariant 4). */
export interface WalRetention {
  /** Bytes of released logs kept, pinned ones included; pinned ones are kept beyond it. */
  bytes: number;
  /** A released log older than this (since its release) is deleted unless pinned. */
  ms: number;
}

/** What retention holds: the released logs still on disk. */
export interface RetainedLogs {
  bytes: number;
  logs: number;
}

export class WalSet {
  readonly #fs: FileSystem;
  readonly dir: string;
  readonly #retention: WalRetention;
  readonly #preallocateBytes: number;
  /** Sizes of logs no longer appended to, in bytes, once known. */
  readonly #logBytes = new Map<number, number>();
  /** When each released log was released (Date.now()); at open, the open's time. */
  readonly #releasedAt = new Map<number, number>();
  /** Numbers of the logs on disk that are not being deleted, ascending; the current one last. */
  #stored: number[];
  #writer: LogWriter | undefined;
  #currentNumber = 0;
  /** Logs below this number are released: nothing but a pin needs them. */
  #releasedBelow = 0;
  readonly #pins = new Set<{ from: number }>();
  /** Settles once every unlink started so far has. */
  #unlinking: Promise<void> = Promise.resolve();

  /**
   * The logs of `dir`, given the names of its entries (a listing the caller made). Released
   * logs are kept within `retention` (default: none kept). A log this creates is allocated at
   * most `preallocateBytes` ahead of its appends (LogWriter; 0: never).
   */
  constructor(
    fs: FileSystem,
    dir: string,
    names: readonly string[],
    retention: WalRetention = { bytes: 0, ms: 0 },
    preallocateBytes: number = WAL_PREALLOCATE_BYTES,
  ) {
    this.#fs = fs;
    this.dir = dir;
    this.#retention = retention;
    this.#preallocateBytes = preallocateBytes;
    this.#stored = [];
    for (const name of names) {
      const f = parseFileName(name);
      if (f?.kind === 'wal') this.#stored.push(f.number);
    }
    this.#stored.sort((a, b) => a - b);
  }

  // ---- reading back (recovery) ----

  /** Numbers of the logs on disk, ascending (during recovery: every log the directory held). */
  stored(): readonly number[] {
    return [...this.#stored];
  }

  has(number: number): boolean {
    return this.#stored.includes(number);
  }

  path(number: number): string {
    return walFileName(this.dir, number);
  }

  /** The bytes of stored log `number`, as readLog() takes them. */
  read(number: number): Promise<Uint8Array> {
    return this.#fs.readFile(this.path(number));
  }

  /** Whether stored log `number` holds a record (salvaging past damage to find one). */
  async holdsRecords(number: number): Promise<boolean> {
    const file = this.path(number);
    return readLog(await this.#fs.readFile(file), file, { mode: 'salvage' }).records.length > 0;
  }

  /**
   * fdatasync of stored log `number` through a descriptor of its own: what a run before this
   * open wrote to it, perhaps only into the page cache, is durable once it resolves.
   */
  syncStored(number: number): Promise<void> {
    return this.#fs.syncFile(this.path(number));
  }

  // ---- writing ----

  /** The log the commit pipeline appends to. REQUIRES: start() resolved. */
  get current(): LogWriter {
    return this.#writer!;
  }

  get currentNumber(): number {
    return this.#currentNumber;
  }

  /**
   * Creates log `number` as the current one (at open). Its directory entry is not synced here:
   * the caller's next step, a new MANIFEST made current, syncs the directory before any
   * write is acknowledged. REQUIRES: no current log (checked).
   */
  async start(number: number): Promise<void> {
    invariant(this.#writer === undefined, 'WalSet.start() twice');
    this.#writer = await LogWriter.create(this.#fs, this.path(number), { preallocateBytes: this.#preallocateBytes });
    this.#currentNumber = number;
    this.#stored.push(number);
  }

  /**
   * Makes log `number` current in place of the current one (invariant 1) and returns the
   * number of the one it replaced. REQUIRES: nothing in flight on the current log (the
   * pipeline runs this between groups). A failure leaves the current log current.
   */
  async rotate(number: number): Promise<number> {
    const old = this.current;
    // Sync the old log before the new one exists: once a newer log is there, recovery reads
    // this one strictly (only the newest may end torn), and a power cut must never keep a
    // later write while losing an earlier one.
    await old.sync();
    const writer = await LogWriter.create(this.#fs, this.path(number), { preallocateBytes: this.#preallocateBytes });
    try {
      await this.#fs.syncDir(this.dir);
    } catch (err) {
      await writer.close().catch(() => {});
      await this.#unlink(number).catch(() => {});
      throw err;
    }
    await old.close().catch(() => {});
    const previous = this.#currentNumber;
    this.#logBytes.set(previous, old.size);
    this.#writer = writer;
    this.#currentNumber = number;
    this.#stored.push(number);
    return previous;
  }

  /**
   * fdatasync of the current log beside the operation in flight (LogWriter.syncCompleted):
   * every append completed before the call is durable once it resolves (a log rotated out
   * meanwhile was synced by the rotation).
   */
  syncCurrent(): Promise<void> {
    return this.current.syncCompleted();
  }

  /**
   * Closes the current log, after syncing it when `sync`; a failed sync is thrown once the
   * log is closed. Deletes nothing.
   */
  async close(sync: boolean): Promise<void> {
    const writer = this.#writer;
    if (writer === undefined) return;
    let syncError: unknown;
    if (sync) await writer.sync().catch((err: unknown) => (syncError = err));
    await writer.close().catch(() => {});
    if (syncError !== undefined) throw syncError;
  }

  // ---- retention ----

  /**
   * Marks every log below `below` as no longer needed by the MANIFEST, and deletes those no
   * pin holds (invariant 2). Resolves once they are deleted; rejects with the first failed
   * unlink (the logs not deleted are retried by a later release()).
   */
  release(below: number): Promise<void> {
    invariant(below <= this.#currentNumber || this.#writer === undefined, 'the current log is never released');
    if (below > this.#releasedBelow) this.#releasedBelow = below;
    const now = Date.now();
    for (const n of this.#stored) if (n < this.#releasedBelow && !this.#releasedAt.has(n)) this.#releasedAt.set(n, now);
    return this.#deleteReleased();
  }

  /** Deletes the released logs that have outlived the retention window's `ms`. */
  expire(): Promise<void> {
    return this.#deleteReleased();
  }

  /** Whether log `number` may still be appended to: it is the current log. */
  isCurrent(number: number): boolean {
    return this.#writer !== undefined && number === this.#currentNumber;
  }

  /** The released logs still on disk (kept by retention or a pin). */
  retained(): RetainedLogs {
    let bytes = 0;
    let logs = 0;
    for (const n of this.#stored) {
      if (n >= this.#releasedBelow) break;
      bytes += this.#sizeOf(n);
      logs++;
    }
    return { bytes, logs };
  }

  /** Holds the logs numbered `from` and above until the pin moves or is dropped. */
  pin(from: number): WalPin {
    const held = { from };
    this.#pins.add(held);
    const set = this;
    return {
      get from() {
        return held.from;
      },
      advance(from: number): Promise<void> {
        if (from > held.from) held.from = from;
        return set.#deleteReleased();
      },
      drop(): Promise<void> {
        set.#pins.delete(held);
        return set.#deleteReleased();
      },
    };
  }

  /**
   * Deletes what retention no longer keeps. Resolves once those logs, and the ones earlier
   * calls were deleting, are gone: a caller that let go of logs can count on it.
   */
  #deleteReleased(): Promise<void> {
    const keepFrom = this.#keepFrom();
    const doomed = this.#stored.filter((n) => n < keepFrom);
    const earlier = this.#unlinking;
    if (doomed.length === 0) return earlier;
    this.#stored = this.#stored.filter((n) => n >= keepFrom);
    const done = (async () => {
      await earlier;
      for (let i = 0; i < doomed.length; i++) {
        try {
          await this.#unlink(doomed[i]!);
        } catch (err) {
          this.#stored = [...doomed.slice(i), ...this.#stored].sort((a, b) => a - b);
          throw err;
        }
      }
    })();
    this.#unlinking = done.catch(() => {});
    return done;
  }

  /** The lowest log number kept (invariants 2 and 4). */
  #keepFrom(): number {
    let pinnedFrom = Infinity;
    for (const p of this.#pins) if (p.from < pinnedFrom) pinnedFrom = p.from;
    const { bytes: maxBytes, ms: maxAgeMs } = this.#retention;
    const now = Date.now();
    let keepFrom = this.#releasedBelow;
    let bytes = 0;
    for (let i = this.#stored.length - 1; i >= 0; i--) {
      const n = this.#stored[i]!;
      if (n >= this.#releasedBelow) continue;
      bytes += this.#sizeOf(n);
      if (n < pinnedFrom && (bytes > maxBytes || now - (this.#releasedAt.get(n) ?? now) > maxAgeMs)) break;
      keepFrom = n;
    }
    return keepFrom;
  }

  /** Bytes of log `number` (0 when it cannot be told). Not for the current log. */
  #sizeOf(number: number): number {
    let bytes = this.#logBytes.get(number);
    if (bytes === undefined) {
      try {
        const file = this.#fs.openReadable(this.path(number));
        bytes = file.size;
        file.close();
      } catch {
        bytes = 0;
      }
      this.#logBytes.set(number, bytes);
    }
    return bytes;
  }

  /** The one place a log file is deleted (invariant 3). */
  #unlink(number: number): Promise<void> {
    this.#logBytes.delete(number);
    this.#releasedAt.delete(number);
    return this.#fs.unlink(this.path(number));
  }
}
