// Reads the records of a log file (WAL or MANIFEST; layout in record-format.ts) and decides
// what a damaged record means.
//
// Rules:
// 1. Records are read from just after the file header, one after another.
// 2. A record is damaged if its header is cut short, its header checksum fails, its length
//    runs past the end of the file, or its payload checksum fails (checked in that order).
// 3. A damaged record is a torn tail iff the writer can have left it so by dying mid-append:
//    it is cut short (its header, or the length its intact header gives, runs past the end of
//    the file), or every byte from its first to the end of the file is zero (a zero-filled or
//    preallocated tail: nothing was written there), or it runs into such zeros and the file
//    goes on past its end (an append into a preallocated file, cut off: the zeros start before
//    the record's end — the end of its header when the header checksum failed — and go on
//    past it), or — in a log allocated in whole units (options.allocationUnit: a WAL) — it
//    runs into such zeros up to the end of a file whose length is a whole number of units (a
//    power cut kept an earlier allocation's length, not the one the append was written into).
//    Such a record was never acknowledged. A complete record whose payload happens to end in
//    zeros and that was damaged later, in a preallocated file, looks the same: the one case
//    this rule cannot tell apart.
// 4. Any other damage is corruption, at the end of the file too: a complete record whose
//    checksum fails was written whole and later damaged (for the MANIFEST, every record was
//    synced before anything acted on it), so dropping it could lose acknowledged data.
// 5. Modes:
//    - 'tolerate-tail' (the newest WAL, the MANIFEST): a torn tail ends the log silently
//      (tornTail: true, endOffset = the damaged record's offset); other damage throws
//      CORRUPTION.
//    - 'strict' (older WALs, "absolute consistency"): any damage throws CORRUPTION, a torn
//      tail included.
//    - 'salvage' (opted into by the user): other damage is reported through onSkipped and
//      reading resumes at the next intact record (or the log ends there, reported, when none
//      follows); a torn tail ends the log as in tolerate-tail.
// 6. A file shorter than its header, or all zeros, is an empty log with a torn tail (the
//    writer died before the header reached the disk); strict mode refuses it. A wrong magic
//    is CORRUPTION and an unknown format version NOT_SUPPORTED, in every mode.
// Record types are not checked here: the caller knows which types it accepts.

import { corruption } from '../base/index.js';
import { checkFileHeader, findIntactRecord, LOG_FILE_HEADER_BYTES, parseRecord, RECORD_HEADER_BYTES, type DamagedRecord } from './record-format.js';

export type LogReadMode = 'tolerate-tail' | 'strict' | 'salvage';

export interface LogReadOptions {
  mode: LogReadMode;
  /** Salvage mode only: called once per damaged region skipped, with the bytes dropped. */
  onSkipped?: (offset: number, bytes: number, reason: string) => void;
  /**
   * The writer allocates this log's length in multiples of this many bytes (LogWriter with
   * preallocation: a WAL), for rule 3. 0 (the default): its length says nothing.
   */
  allocationUnit?: number;
}

export interface LogRecord {
  type: number;
  /** A view into the bytes passed to readLog, not a copy. */
  payload: Uint8Array;
  /** Offset of the record's first header byte in the file. */
  offset: number;
}

export interface LogReadResult {
  records: LogRecord[];
  /** Offset just past the last intact record (or the header); where a torn tail begins. */
  endOffset: number;
  /** Whether the log ended in a torn tail that was dropped. */
  tornTail: boolean;
}

/** Parses a whole log file held in `bytes`; `file` names it in errors. */
export function readLog(bytes: Uint8Array, file: string, options: LogReadOptions): LogReadResult {
  const records: LogRecord[] = [];
  if (checkFileHeader(bytes, file) === 'torn') {
    if (options.mode === 'strict') throw corruption(file, 0, 'log file header missing or cut short');
    return { records, endOffset: 0, tornTail: true };
  }
  let offset = LOG_FILE_HEADER_BYTES;
  while (offset < bytes.length) {
    const record = parseRecord(bytes, offset);
    if (!('what' in record)) {
      records.push({ type: record.type, payload: record.payload, offset });
      offset = record.end;
      continue;
    }
    if (record.cutShort || runsIntoZeroTail(bytes, offset, record, options.allocationUnit ?? 0)) {
      if (options.mode === 'strict') throw corruption(file, offset, `${record.what} (a torn tail)`);
      return { records, endOffset: offset, tornTail: true };
    }
    const next = findRecordAfter(bytes, offset, record);
    if (options.mode !== 'salvage') {
      const after = next === undefined ? 'it is the last record, but complete' : `an intact record follows at offset ${next}`;
      throw corruption(file, offset, `${record.what}; ${after}, so this is not a torn tail`);
    }
    if (next === undefined) {
      // Dropped: the record, or when its length cannot be trusted everything up to the zeros
      // a preallocated file ends in (never data).
      options.onSkipped?.(offset, (record.trustedEnd ?? zeroTailStart(bytes, offset)) - offset, record.what);
      return { records, endOffset: offset, tornTail: false };
    }
    options.onSkipped?.(offset, next - offset, record.what);
    offset = next;
  }
  return { records, endOffset: offset, tornTail: false };
}

/** Rule 3's zero tails: the record at `offset` starts in one, or ends in one that goes on past it. */
function runsIntoZeroTail(bytes: Uint8Array, offset: number, damage: DamagedRecord, allocationUnit: number): boolean {
  const zeroTail = zeroTailStart(bytes, offset);
  if (zeroTail === offset) return true;
  // zeroTail == end is a record written whole, then damaged: not torn.
  const end = damage.trustedEnd ?? offset + RECORD_HEADER_BYTES;
  if (zeroTail >= end) return false;
  return end < bytes.length || (allocationUnit > 0 && end === bytes.length && bytes.length % allocationUnit === 0);
}

/** Where the zeros that end `bytes` start (bytes.length if it ends otherwise), at `from` or later. */
function zeroTailStart(bytes: Uint8Array, from: number): number {
  let at = bytes.length;
  while (at > from && bytes[at - 1] === 0) at--;
  return at;
}

/** Offset of the first intact record after the damaged record at `offset`, if any. */
function findRecordAfter(bytes: Uint8Array, offset: number, damage: DamagedRecord): number | undefined {
  // After a header checksum failure, trust nothing in the record, its length included: a
  // damaged length could point anywhere, so every later offset is a candidate. When the header
  // checksum passed, the length is trustworthy and the bytes up to the record's end are its
  // payload; a payload may itself hold the bytes of a record (a value that is a log file), and
  // taking those for a real record would turn a torn tail into corruption, or make salvage
  // return records that were never written.
  return findIntactRecord(bytes, damage.trustedEnd ?? offset + 1);
}
