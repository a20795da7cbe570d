/**
 * LogTail: reads the records of one log file a chunk at a time, from a record boundary on —
 * also the current WAL while the commit pipeline appends to it. The change feed reads the
 * retained logs through it, holding one chunk at a time instead of a whole file.
 *
 * Rules (the reader's rules of log-reader.ts, for a file read in pieces):
 * 1. A log still appended to is read only up to a limit the caller takes from its writer
 *    (LogWriter.completedBytes or syncedBytes): completed appends end at a record boundary,
 *    so every record before the limit is whole, and any damage there is CORRUPTION.
 * 2. A final log (no longer appended to: rotated out, or left by an earlier run) is read to
 *    the end of the file. Damage there is judged on the whole file by readLog's
 *    'tolerate-tail' rules: a torn tail (a crash mid-append, or preallocated zeros) ends the
 *    log; anything else is CORRUPTION naming the file and offset.
 * 3. Records are handed out as views into the chunk just read; each read() reads a new one.
 */

import { corruption, type FileSystem, type RandomAccessFile } from '../base/index.js';
import type { LogRecord } from './log-reader.js';
import { readLog } from './log-reader.js';
import { WAL_ALLOCATION_UNIT } from './log-writer.js';
import { checkFileHeader, LOG_FILE_HEADER_BYTES, parseRecord, RECORD_HEADER_BYTES } from './record-format.js';

/** A record read by LogTail: where it ends too. */
export interface TailRecord extends LogRecord {
  /** Offset just past the record. */
  end: number;
}

export interface TailRead {
  records: TailRecord[];
  /** Offset just past the last record returned: where the next read() starts. */
  next: number;
  /** For a final log: no record follows `next`. */
  ended: boolean;
}

export class LogTail {
  readonly #fs: FileSystem;
  readonly path: string;
  #file: RandomAccessFile | undefined;
  /** Size of the file once it is final. */
  #finalSize: number | undefined;
  /** Where a final log's records end (a torn tail, judged once). */
  #endsAt: number | undefined;
  #offset: number;

  /** Reads `path` from `offset` (0: the file header, checked first; else a record boundary). */
  constructor(fs: FileSystem, path: string, offset = 0) {
    this.#fs = fs;
    this.path = path;
    this.#offset = offset;
  }

  get offset(): number {
    return this.#offset;
  }

  /**
   * The records from the current offset up to `limit` bytes of the file (rule 1), or to its
   * end when `limit` is 'final' (rule 2), reading about `maxBytes` (more for one larger record).
   */
  read(limit: number | 'final', maxBytes: number): TailRead {
    const final = limit === 'final';
    let end = final ? this.#sizeOnceFinal() : limit;
    if (this.#endsAt !== undefined) end = Math.min(end, this.#endsAt);
    if (this.#offset === 0) {
      if (end < LOG_FILE_HEADER_BYTES) return { records: [], next: 0, ended: final };
      if (checkFileHeader(this.#open().read(0, LOG_FILE_HEADER_BYTES), this.path) === 'torn') {
        this.#endsAt = 0;
        return { records: [], next: 0, ended: true };
      }
      this.#offset = LOG_FILE_HEADER_BYTES;
    }
    const records: TailRecord[] = [];
    let want = Math.min(end - this.#offset, Math.max(maxBytes, RECORD_HEADER_BYTES));
    while (want > 0 && records.length === 0) {
      const base = this.#offset;
      const bytes = this.#open().read(base, want);
      let at = 0;
      while (at < bytes.length) {
        const record = parseRecord(bytes, at);
        if (!('what' in record)) {
          records.push({ type: record.type, payload: record.payload, offset: base + at, end: base + record.end });
          at = record.end;
          continue;
        }
        const needed = record.trustedEnd ?? at + RECORD_HEADER_BYTES;
        if (record.cutShort && base + needed <= end) {
          // The chunk, not the file, ends inside this record: read it whole next round.
          if (records.length === 0) want = Math.min(end - base, Math.max(needed - at, 2 * want));
          break;
        }
        if (!final) throw corruption(this.path, base + at, `${record.what} (before the end its writer reached)`);
        this.#endsAt = this.#judgeDamage(base + at);
        end = this.#endsAt;
        break;
      }
      this.#offset = base + at;
      if (this.#offset >= end) break;
    }
    return { records, next: this.#offset, ended: final && this.#offset >= end };
  }

  /** Closes the descriptor. Never throws: a failed close of a file only read loses nothing. */
  close(): void {
    const file = this.#file;
    this.#file = undefined;
    try {
      file?.close();
    } catch {
      // (The descriptor is gone either way.)
    }
  }

  #open(): RandomAccessFile {
    this.#file ??= this.#fs.openReadable(this.path);
    return this.#file;
  }

  #sizeOnceFinal(): number {
    if (this.#finalSize === undefined) {
      // A descriptor opened while the log was appended to knows an old size: open it anew.
      this.close();
      this.#finalSize = this.#open().size;
    }
    return this.#finalSize;
  }

  /** Rule 2: where the records of this final log end, given damage at `offset`; or CORRUPTION. */
  #judgeDamage(offset: number): number {
    const whole = this.#open().read(0, this.#sizeOnceFinal());
    const { endOffset, tornTail } = readLog(whole, this.path, { mode: 'tolerate-tail', allocationUnit: WAL_ALLOCATION_UNIT });
    if (!tornTail || endOffset !== offset) throw corruption(this.path, offset, 'damaged record where the log was read in pieces');
    return endOffset;
  }
}
