/**
 * LogWriter: appends records (layout in record-format.ts) to one log file, a WAL or a MANIFEST.
 * Two ways in: addFramed() appends a RecordBuffer whose records the caller framed in place
 * (the commit pipeline's group, one per WAL write); addRecords() frames the given payloads
 * itself (the MANIFEST's edits).
 *
 * Invariants:
 * 1. At most one addFramed(), addRecords() or sync() is in flight: the caller (the commit
 *    pipeline and, between its groups, WalSet; the MANIFEST writer) serializes them; checked
 *    with invariant(). syncCompleted() is the one call made beside them.
 * 2. Fail-stop: once an append or a sync has failed, the writer is failed, and every later
 *    append and sync() rejects at once with that same error without touching the file.
 *    After a failed fdatasync the kernel may have dropped the dirty pages and cleared the error,
 *    so a retried fsync that succeeds proves nothing; a failed append may have written a prefix.
 *    The caller must stop writing to this log (and the database goes read-only or closes).
 * 3. With preallocation, the file is allocated ahead of the appends (zeros past the last
 *    record, which the reader takes for the end of the log), by as much as it holds already
 *    (from WAL_PREALLOCATE_MIN_BYTES up to preallocateBytes; so a small log stays small and a
 *    busy one soon gets the whole step), to a length that is a whole number of
 *    WAL_ALLOCATION_UNIT bytes. At least one zero always follows the last record, so a record
 *    torn by a power cut, whose lost bytes read back as zeros, is followed by zeros and the
 *    reader takes it for a torn tail, never for a whole record damaged later. A power cut may
 *    keep an older allocation's length, not the one a group was written into (allocations are
 *    not synced: a sync of their own would write the log's pages to the disk, which an
 *    unsynced log deleted after its flush never needs); the file then ends at a whole number
 *    of units inside a record, which the reader also takes for a torn tail (log-reader.ts rule
 *    3, with allocationUnit). sync() cuts the zeros off before it syncs: recovery reads a WAL
 *    known to be synced whole strictly, where a zero tail would be a torn one.
 * Steps of an append, all before the first await: take the framed bytes (addFramed: the
 * buffer's, as they are; addRecords: every payload framed). Then, if the group would run past
 * the preallocated bytes, preallocate further; then one append (one write(2)/writev(2) for the
 * whole group) and, if asked, one sync (fdatasync(2)) — with appendAndSync, the two in one trip
 * through the thread pool.
 */

import { closedError, invalidArgument, invariant, ioError, type FileSystem, type StrataError, type WritableFile } from '../base/index.js';
import { frameRecords, LOG_FILE_HEADER, MAX_RECORD_PAYLOAD_BYTES } from './record-format.js';
import type { RecordBuffer } from './record-buffer.js';

/**
 * How far ahead of its appends a WAL is allocated at most (the default of option
 * walPreallocateBytes). A sync that finds the file size already durable commits the data
 * alone, not the file's metadata too (see bench/native.ts).
 */
export const WAL_PREALLOCATE_BYTES = 4 * 1024 * 1024;

/**
 * The first step of preallocation: a new log is allocated this far ahead, and each later step
 * as far as the log already holds (doubling it), up to preallocateBytes. A log that stays
 * small (a small database, a test) then holds little more than its records, and a log of n
 * bytes has cost at most log2(preallocateBytes / this) steps more than a fixed step would.
 */
export const WAL_PREALLOCATE_MIN_BYTES = 16 * 1024;

/**
 * A preallocated log's length is always a whole number of these bytes (invariant 3), or where
 * sync() cut its zeros off; readers of WALs pass it to readLog (allocationUnit).
 */
export const WAL_ALLOCATION_UNIT = WAL_PREALLOCATE_MIN_BYTES;

export interface LogWriterOptions {
  /**
   * Allocate the file ahead of the appends (WritableFile.preallocate), at most this many bytes
   * ahead (invariant 3); 0 (the default): never. Only for a log whose reader treats a zero
   * tail as its end.
   */
  preallocateBytes?: number;
}

export class LogWriter {
  readonly #file: WritableFile;
  #failure: StrataError | undefined;
  #busy = false;
  #inFlight: Promise<void> = Promise.resolve();
  #closing: Promise<void> | undefined;
  #preallocateBytes: number;
  /** The file is allocated (zeros) up to here. */
  #allocatedTo = 0;
  /** Whether the file may hold zeros past its last record, for sync() to cut. */
  #mayHaveZeroTail = false;
  /** Bytes written by appends that completed: whole records, readable through another descriptor. */
  #completedBytes = 0;
  /** Bytes known durable: a sync that covered them completed. */
  #syncedBytes = 0;

  private constructor(file: WritableFile, preallocateBytes: number) {
    this.#file = file;
    this.#preallocateBytes = preallocateBytes;
  }

  /**
   * Creates `path` (truncating any file of that name) and appends the file header. Nothing is
   * synced: the first synced append makes the header durable with its records, and the
   * caller syncs the directory so that the new name survives a power cut.
   */
  static async create(fs: FileSystem, path: string, options: LogWriterOptions = {}): Promise<LogWriter> {
    const preallocateBytes = options.preallocateBytes ?? 0;
    if (!(Number.isSafeInteger(preallocateBytes) && preallocateBytes >= 0)) {
      throw invalidArgument(`preallocateBytes must be a non-negative integer, got ${preallocateBytes}`);
    }
    const file = await fs.createWritable(path);
    try {
      await file.append(LOG_FILE_HEADER);
    } catch (err) {
      await file.close().catch(() => undefined);
      throw ioError('write', path, err);
    }
    const writer = new LogWriter(file, preallocateBytes);
    writer.#completedBytes = file.size;
    return writer;
  }

  get path(): string {
    return this.#file.path;
  }

  /** Bytes appended so far, file header included. */
  get size(): number {
    return this.#file.size;
  }

  /**
   * Bytes of the file, header included, that completed appends wrote: they end at a record
   * boundary, and a reader of the file (the change feed) may read them while later appends
   * go on. An append in flight is not counted until it resolves; a failed one never is.
   */
  get completedBytes(): number {
    return this.#completedBytes;
  }

  /** Bytes, header included, that a completed fdatasync made durable. */
  get syncedBytes(): number {
    return this.#syncedBytes;
  }

  /**
   * Appends one record of `type` per payload, in order, with a single append (one writev), then
   * syncs once if `sync`. Resolves once the bytes are written (and durable, with `sync`).
   * REQUIRES: no other addRecords() or sync() in flight (checked); type in 1..255 (checked).
   * A payload over 4 GiB - 1 bytes is INVALID_ARGUMENT and nothing is written.
   */
  addRecords(type: number, payloads: readonly Uint8Array[], sync: boolean): Promise<void> {
    const refused = this.#refusal();
    if (refused) return Promise.reject(refused);
    invariant(Number.isInteger(type) && type >= 1 && type <= 0xff, `record type ${type} out of range`);
    for (const p of payloads) {
      if (p.length > MAX_RECORD_PAYLOAD_BYTES) {
        return Promise.reject(invalidArgument(`a log record payload of ${p.length} bytes exceeds ${MAX_RECORD_PAYLOAD_BYTES} bytes`));
      }
    }
    const chunks = frameRecords(type, payloads);
    return this.#run(() => this.#write(chunks, sync));
  }

  /**
   * Appends the records framed in `records` with a single append, then syncs once if `sync`.
   * Same guarantees and REQUIRES as addRecords(); `records` takes no more records afterwards.
   */
  addFramed(records: RecordBuffer, sync: boolean): Promise<void> {
    const refused = this.#refusal();
    if (refused) return Promise.reject(refused);
    const bytes = records.finish();
    return this.#run(() => this.#write(bytes.length > 0 ? [bytes] : [], sync));
  }

  /**
   * Makes every record appended so far durable (fdatasync), after cutting off the zeros that
   * preallocation left past the last record (invariant 3). REQUIRES: nothing in flight (checked).
   */
  sync(): Promise<void> {
    const refused = this.#refusal();
    if (refused) return Promise.reject(refused);
    return this.#run(async () => {
      await this.#trimZeros();
      const covered = this.#file.size;
      await this.#io('fdatasync', () => this.#file.sync());
      this.#synced(covered);
    });
  }

  /**
   * Cuts off the zeros that preallocation left past the last record, without a sync (durable
   * with the next one): a log no longer appended to then ends at its last record, and a reader
   * after a crash of the process does not take those zeros for a torn tail. REQUIRES: nothing
   * in flight (checked).
   */
  trim(): Promise<void> {
    const refused = this.#refusal();
    if (refused) return Promise.reject(refused);
    return this.#run(() => this.#trimZeros());
  }

  async #trimZeros(): Promise<void> {
    if (!this.#mayHaveZeroTail) return;
    await this.#io('ftruncate', () => this.#file.trimToSize?.() ?? Promise.resolve());
    this.#mayHaveZeroTail = false;
    this.#allocatedTo = this.#file.size;
  }

  /**
   * fdatasync(2) beside the operation in flight, for a caller outside the one that serializes
   * this writer (another shard of the database): every append that completed before the call
   * is durable once it resolves; an append still in flight may or may not be. On a closing log
   * it resolves at once (a WAL is synced before it is closed). A failure fails the writer.
   */
  syncCompleted(): Promise<void> {
    if (this.#closing) return Promise.resolve();
    if (this.#failure) return Promise.reject(this.#failure);
    const covered = this.#completedBytes;
    return this.#io('fdatasync', () => this.#file.sync()).then(
      () => this.#synced(covered),
      (err: unknown) => {
        if (!this.#closing) throw err; // closed meanwhile: synced before, and never written again
      },
    );
  }

  /**
   * Waits for the operation in flight, if any, then closes the file. Does not sync. Idempotent;
   * afterwards appends and sync() fail with CLOSED.
   */
  close(): Promise<void> {
    this.#closing ??= this.#inFlight.then(async () => {
      try {
        await this.#file.close();
      } catch (err) {
        throw ioError('close', this.path, err);
      }
    });
    return this.#closing;
  }

  #refusal(): StrataError | undefined {
    if (this.#closing) return closedError(`log ${this.path}`);
    return this.#failure;
  }

  async #write(chunks: readonly Uint8Array[], sync: boolean): Promise<void> {
    let bytes = 0;
    for (const c of chunks) bytes += c.length;
    // `>=`: a record never ends where the allocated zeros end (invariant 3).
    if (bytes > 0 && this.#preallocateBytes > 0 && this.#file.size + bytes >= this.#allocatedTo) await this.#preallocate(bytes);
    if (bytes > 0 && sync && this.#file.appendAndSync) {
      await this.#io('write', () => this.#file.appendAndSync!(chunks));
      this.#completedBytes = this.#file.size;
      this.#synced(this.#completedBytes);
      return;
    }
    if (bytes > 0) await this.#io('write', () => this.#file.append(chunks));
    this.#completedBytes = this.#file.size;
    if (sync) {
      const covered = this.#completedBytes;
      await this.#io('fdatasync', () => this.#file.sync());
      this.#synced(covered);
    }
  }

  #synced(bytes: number): void {
    if (bytes > this.#syncedBytes) this.#syncedBytes = bytes;
  }

  async #preallocate(bytes: number): Promise<void> {
    const size = this.#file.size;
    const ahead = Math.min(this.#preallocateBytes, Math.max(WAL_PREALLOCATE_MIN_BYTES, size));
    // Down to a whole unit: still past the group, as ahead >= WAL_ALLOCATION_UNIT.
    const target = Math.floor((size + bytes + ahead) / WAL_ALLOCATION_UNIT) * WAL_ALLOCATION_UNIT;
    this.#mayHaveZeroTail = true;
    let done: boolean;
    try {
      done = (await this.#file.preallocate?.(target)) ?? false;
    } catch {
      // A disk too full to allocate ahead may still hold this group: let the append decide,
      // as it would without preallocation. (The writer stays usable: nothing was appended.)
      done = false;
    }
    if (!done) {
      this.#preallocateBytes = 0;
      return;
    }
    this.#allocatedTo = target;
  }

  #run(op: () => Promise<void>): Promise<void> {
    invariant(!this.#busy, `two operations in flight on log ${this.path}`);
    this.#busy = true;
    const done = op().finally(() => {
      this.#busy = false;
    });
    this.#inFlight = done.catch(() => undefined);
    return done;
  }

  async #io(op: string, call: () => Promise<void>): Promise<void> {
    try {
      await call();
    } catch (err) {
      this.#failure = ioError(op, this.path, err);
      throw this.#failure;
    }
  }
}
