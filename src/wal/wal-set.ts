/**
 * WalSet: the write-ahead logs of one engine's directory — the one owner of their lifecycle.
 * It creates, rotates, syncs, retains and deletes the log files (NNNNNN.log, one per
 * memtable), and reads them back for recovery. The engine decides when; this does it.
 *
 * Lifecycle of a log: stored (found at open, or created here) → current (the one the commit
 * pipeline appends to; at most one) → rotated out (synced first, or with `deferSync` left
 * unsynced until a sync needs it) → released (the owner's MANIFEST no longer needs it:
 * release(below)) → deleted, once no pin holds it.
 *
 * Invariants:
 * 1. Only the current log is ever appended to. rotate() syncs the directory so that the new
 *    log's name is durable before any group is written to it. Without `deferSync` it syncs the
 *    old log first, so only the newest log can end torn. With `deferSync` it does not: a log
 *    rotated out stays unsynced (its writer open) until it is deleted (its pages, never
 *    written back, then cost the disk nothing) or a sync needs it, and a power cut may cut it
 *    short while a newer log keeps later writes; recovery then stops at the cut
 *    (src/engine/recovery.ts).
 * 1a. (deferSync) Every sync of the current log (a synced group through append(), syncCurrent(),
 *    close()) first syncs every unsynced older log, oldest first: a durable write implies that
 *    every earlier one is durable. After such a sync, the next append() first appends a
 *    LogsSynced record (record-format.ts): on disk, it proves that every older log was synced
 *    whole, so that damage there is corruption, not a power cut.
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
 * 5. A released log that holds no write (its header and at most one LogsSynced record: the log
 *    of a session that wrote nothing, such as a read-only open) is deleted when released, unless
 *    a pin holds it or it is the oldest log on disk: it has nothing to retain, and a process that
 *    opens and closes the database often would otherwise leave one such file behind each time,
 *    for as long as retention.ms. What is kept is then a run of the newest released logs less
 *    some that held no write, so that a reader of old logs still finds every write of the run;
 *    its oldest end is the same as without this rule (the change feed's floor reads it: while a
 *    database's first log is on disk, no write of it was ever deleted).
 *
 * This folder sits below the MANIFEST: a log is known by its file number, not by a version.
 */

import { invariant, parseFileName, walFileName, type FileSystem } from '../base/index.js';
import { readLog } from './log-reader.js';
import { LogWriter, WAL_ALLOCATION_UNIT, WAL_PREALLOCATE_BYTES } from './log-writer.js';
import type { RecordBuffer } from './record-buffer.js';
import { LOG_FILE_HEADER_BYTES, RECORD_HEADER_BYTES, RecordType } from './record-format.js';

const LOGS_SYNCED_PAYLOAD = new Uint8Array(0);

/**
 * A log of at most this many bytes holds no write (invariant 5): a Batch, Prepare or Commit
 * record's payload is never empty, so a log holding one is longer than its header and one
 * empty record; and a session writes at most one LogsSynced record before its first write (or
 * its close).
 */
const EMPTY_LOG_BYTES = LOG_FILE_HEADER_BYTES + RECORD_HEADER_BYTES;

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
  /** Whether rotate() leaves the old log unsynced (invariant 1a). */
  readonly #deferSync: boolean;
  /** Logs rotated out and not yet synced or deleted, by number (ascending), writers open. */
  readonly #unsynced = new Map<number, LogWriter>();
  /** Settles once the sync of unsynced logs started last has (they run one at a time). */
  #syncingOlder: Promise<void> = Promise.resolve();
  /** Older logs were synced since the last LogsSynced record: append() writes one first. */
  #markerDue = false;

  /**
   * The logs of `dir`, given the names of its entries (a listing the caller made). Released
   * logs are kept within `retention` (default: none kept). A log this creates is allocated at
   * most `preallocateBytes` ahead of its appends (LogWriter; 0: never). `deferSync`: rotate()
   * leaves the old log unsynced (invariant 1a); only for an owner whose recovery reads a log
   * cut short before a newer one as a power cut (src/engine/recovery.ts).
   */
  constructor(
    fs: FileSystem,
    dir: string,
    names: readonly string[],
    retention: WalRetention = { bytes: 0, ms: 0 },
    preallocateBytes: number = WAL_PREALLOCATE_BYTES,
    deferSync = false,
  ) {
    this.#fs = fs;
    this.dir = dir;
    this.#retention = retention;
    this.#preallocateBytes = preallocateBytes;
    this.#deferSync = deferSync;
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
    return readLog(await this.#fs.readFile(file), file, { mode: 'salvage', allocationUnit: WAL_ALLOCATION_UNIT }).records.length > 0;
  }

  /**
   * Deletes stored logs `numbers` (at open, before anything is written: logs recovery dropped
   * after a power cut cut an older one short), durably: the directory is synced after.
   * REQUIRES: no current log yet (checked).
   */
  async discard(numbers: readonly number[]): Promise<void> {
    invariant(this.#writer === undefined, 'WalSet.discard() after start()');
    if (numbers.length === 0) return;
    for (const n of numbers) {
      this.#stored = this.#stored.filter((s) => s !== n);
      await this.#unlink(n);
    }
    await this.#fs.syncDir(this.dir);
  }

  /**
   * fdatasync of stored log `number` through a descriptor of its own: what a run before this
   * open wrote to it, perhaps only into the page cache, is durable once it resolves.
   */
  syncStored(number: number): Promise<void> {
    return this.#fs.syncFile(this.path(number));
  }

  /**
   * syncStored() of every stored log (at open, before start()); with deferSync, the first
   * append() then writes a LogsSynced record, which vouches for them (invariant 1a).
   */
  async syncAllStored(): Promise<void> {
    invariant(this.#writer === undefined, 'WalSet.syncAllStored() after start()');
    for (const n of this.#stored) await this.syncStored(n);
    if (this.#deferSync && this.#stored.length > 0) this.#markerDue = true;
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
    // Without deferSync, sync the old log before the new one exists: once a newer log is
    // there, recovery reads this one strictly (only the newest may end torn), and a power cut
    // must never keep a later write while losing an earlier one.
    // With deferSync, only cut its preallocated zeros off: after a crash of the process (no
    // power cut) it must end at its last record, or recovery would take them for a cut.
    if (!this.#deferSync) await old.sync();
    else await old.trim();
    const writer = await LogWriter.create(this.#fs, this.path(number), { preallocateBytes: this.#preallocateBytes });
    try {
      await this.#fs.syncDir(this.dir);
    } catch (err) {
      await writer.close().catch(() => {});
      await this.#unlink(number).catch(() => {});
      throw err;
    }
    const previous = this.#currentNumber;
    if (this.#deferSync) this.#unsynced.set(previous, old);
    else await old.close().catch(() => {});
    this.#logBytes.set(previous, old.size);
    this.#writer = writer;
    this.#currentNumber = number;
    this.#stored.push(number);
    return previous;
  }

  /**
   * Appends the group framed in `records` to the current log, syncing it when `sync`, which
   * first syncs the older logs left unsynced (invariant 1a). REQUIRES: as LogWriter.addFramed(),
   * and nothing else appending to the current log (the commit pipeline's one caller).
   */
  async append(records: RecordBuffer, sync: boolean): Promise<void> {
    if (sync && this.#unsynced.size > 0) await this.#syncOlder();
    if (this.#markerDue) {
      this.#markerDue = false;
      await this.current.addRecords(RecordType.LogsSynced, [LOGS_SYNCED_PAYLOAD], false);
    }
    return this.current.addFramed(records, sync);
  }

  /**
   * fdatasync of the current log beside the operation in flight (LogWriter.syncCompleted),
   * after the older logs left unsynced (invariant 1a): every append completed before the call,
   * to any log, is durable once it resolves.
   */
  async syncCurrent(): Promise<void> {
    const current = this.current;
    if (this.#unsynced.size > 0) await this.#syncOlder();
    return current.syncCompleted();
  }

  /** Whether `end` bytes of log `log` are durable: synced, or in a log never left unsynced. */
  isDurable(log: number, end: number): boolean {
    if (this.isCurrent(log)) return end <= this.current.syncedBytes;
    return !this.#unsynced.has(log);
  }

  /** Whether a log holds appended bytes that no sync has covered yet. */
  get unsynced(): boolean {
    return this.#unsynced.size > 0 || (this.#writer !== undefined && this.#writer.syncedBytes < this.#writer.completedBytes);
  }

  /**
   * Closes the current log, after syncing it when `sync` (the older logs left unsynced first,
   * and a LogsSynced record then, invariant 1a); a failed sync is thrown once the log is
   * closed. Deletes nothing.
   */
  async close(sync: boolean): Promise<void> {
    const writer = this.#writer;
    if (writer === undefined) return;
    let syncError: unknown;
    if (sync) {
      try {
        if (this.#unsynced.size > 0) await this.#syncOlder();
        if (this.#markerDue) {
          this.#markerDue = false;
          await writer.addRecords(RecordType.LogsSynced, [LOGS_SYNCED_PAYLOAD], false);
        }
        await writer.sync();
      } catch (err) {
        syncError = err;
      }
    }
    for (const [n, old] of this.#unsynced) {
      this.#unsynced.delete(n);
      await old.close().catch(() => {});
    }
    await writer.close().catch(() => {});
    if (syncError !== undefined) throw syncError;
  }

  /**
   * Syncs every log left unsynced now, oldest first, one sync of such logs at a time; then the
   * next append() writes a LogsSynced record (invariant 1a). A log deleted meanwhile needs none.
   */
  #syncOlder(): Promise<void> {
    const logs = [...this.#unsynced];
    const done = this.#syncingOlder.then(async () => {
      for (const [n, writer] of logs) {
        if (!this.#unsynced.has(n)) continue;
        try {
          await writer.sync();
        } catch (err) {
          if (this.#unsynced.has(n)) throw err;
          continue; // deleted meanwhile: nothing of it is needed
        }
        this.#unsynced.delete(n);
        await writer.close().catch(() => {});
      }
      this.#markerDue = true;
    });
    this.#syncingOlder = done.catch(() => {});
    return done;
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
    const pinnedFrom = this.#pinnedFrom();
    const keepFrom = this.#keepFrom(pinnedFrom);
    const oldest = this.#stored[0];
    const doomed = this.#stored.filter((n) => n < keepFrom || (n !== oldest && n < this.#releasedBelow && n < pinnedFrom && this.#holdsNoWrite(n)));
    const earlier = this.#unlinking;
    if (doomed.length === 0) return earlier;
    this.#stored = this.#stored.filter((n) => !doomed.includes(n));
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

  /** The lowest log number a pin holds (Infinity: none). */
  #pinnedFrom(): number {
    let pinnedFrom = Infinity;
    for (const p of this.#pins) if (p.from < pinnedFrom) pinnedFrom = p.from;
    return pinnedFrom;
  }

  /** The lowest log number retention keeps (invariants 2 and 4). */
  #keepFrom(pinnedFrom: number): number {
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
    return this.#knownSizeOf(number) ?? 0;
  }

  /** Whether released log `number` holds no write (invariant 5); false when its size cannot be told. */
  #holdsNoWrite(number: number): boolean {
    const bytes = this.#knownSizeOf(number);
    return bytes !== undefined && bytes <= EMPTY_LOG_BYTES;
  }

  /** Bytes of log `number`, or undefined when they cannot be told (asked again next time). */
  #knownSizeOf(number: number): number | undefined {
    let bytes = this.#logBytes.get(number);
    if (bytes === undefined) {
      try {
        const file = this.#fs.openReadable(this.path(number));
        bytes = file.size;
        file.close();
      } catch {
        return undefined;
      }
      this.#logBytes.set(number, bytes);
    }
    return bytes;
  }

  /** The one place a log file is deleted (invariant 3); an unsynced one is closed first, unsynced. */
  async #unlink(number: number): Promise<void> {
    this.#logBytes.delete(number);
    this.#releasedAt.delete(number);
    const writer = this.#unsynced.get(number);
    if (writer !== undefined) {
      this.#unsynced.delete(number);
      await writer.close().catch(() => {});
    }
    return this.#fs.unlink(this.path(number));
  }
}
