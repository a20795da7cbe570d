// src/wal/record-format.ts — owns the bytes of a log file, shared by the WAL and the MANIFEST.
// log-writer.ts and log-reader.ts import from here; nobody else parses these bytes.
//
//   file            := fileHeader record*
//   fileHeader      := magic "STRATLOG" (8 bytes ASCII) | version u32 LE            (12 bytes)
//   record          := headerChecksum u32 LE | length u32 LE | type u8 | payloadChecksum u32 LE
//                      | payload[length]                                            (13 + length bytes)
//   headerChecksum  := xxh32(length | type | payloadChecksum, seed 0)   (record bytes 4..12)
//   payloadChecksum := xxh32(payload, seed 0)
//   type            := a RecordType
//   payload         := batch (src/base/batch-format.ts) for Batch; a version edit for ManifestEdit;
//                      prepare or commit (src/engine/two-phase-format.ts) for Prepare,
//                      PrepareInOrder and Commit; empty for LogsSynced
//
// Records follow one another with no padding; a record never spans anything but itself.
//
// Why the header has its own checksum: with a single checksum over the payload, a flipped bit
// in `length` makes the reader look for the checksum's bytes somewhere else, and a record in
// the middle of a log can then look as if it runs past the end of the file — a torn tail,
// silently dropping everything after it. With headerChecksum, a damaged length is detected as
// such before it is used.
//
// Format versions (append a line per change, never reuse a number):
//   1  the layout above.

import { getU32, putU32, StrataError, corruption, viewOf, xxh32 } from '../base/index.js';

/** Record types. Written to disk: append new types, never renumber. 0 is never written. */
export const RecordType = {
  /** One encoded write batch (src/base/batch-format.ts). */
  Batch: 1,
  /** One MANIFEST version edit. */
  ManifestEdit: 2,
  /** One shard's part of a batch that spans shards (src/engine/two-phase-format.ts). */
  Prepare: 3,
  /** The commit point of a batch that spans shards (src/engine/two-phase-format.ts). */
  Commit: 4,
  /**
   * Prepare with the place of each of the part's entries in the batch as given, so that a
   * change feed lists the batch's operations in their order (src/engine/two-phase-format.ts).
   * Written instead of Prepare since the change feed's ordering; Prepare is still read.
   */
  PrepareInOrder: 5,
  /**
   * Empty. Appended to a WAL only after every older WAL of its directory was synced whole:
   * once it is on disk, damage in an older WAL is corruption, not a power cut (WalSet,
   * src/engine/recovery.ts). Added without a format version: a build that predates it refuses
   * the WAL as CORRUPTION ("record type 6"), as it would a PrepareInOrder record.
   */
  LogsSynced: 6,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

export const LOG_FORMAT_VERSION = 1;
export const LOG_MAGIC: Uint8Array = Uint8Array.from([0x53, 0x54, 0x52, 0x41, 0x54, 0x4c, 0x4f, 0x47]); // "STRATLOG"
export const LOG_FILE_HEADER_BYTES = 8 + 4;
export const RECORD_HEADER_BYTES = 4 + 4 + 1 + 4;
/** Largest payload a record can carry: its length is a u32. */
export const MAX_RECORD_PAYLOAD_BYTES = 0xffff_ffff;

/** The bytes every log file starts with. */
export const LOG_FILE_HEADER: Uint8Array = (() => {
  const out = new Uint8Array(LOG_FILE_HEADER_BYTES);
  out.set(LOG_MAGIC, 0);
  putU32(out, 8, LOG_FORMAT_VERSION);
  return out;
})();

/** Writes the 13-byte header of a record carrying `payload` into `out` at `offset`. */
export function putRecordHeader(out: Uint8Array, offset: number, type: number, payload: Uint8Array): void {
  putU32(out, offset + 4, payload.length);
  out[offset + 8] = type;
  putU32(out, offset + 9, xxh32(payload));
  putU32(out, offset, xxh32(viewOf(out, offset + 4, offset + RECORD_HEADER_BYTES)));
}

// Payloads at least this large are handed to writev(2) as they are; smaller ones are copied
// next to their headers, so a group of many small batches is a few iovecs, not two per record
// (Linux takes at most 1024 per writev).
const COPY_BELOW_BYTES = 16 * 1024;

/**
 * Frames each payload as one record of `type`, in order. Returns chunks to append with one
 * writev: headers and small payloads share one new buffer, large payloads are not copied.
 */
export function frameRecords(type: number, payloads: readonly Uint8Array[]): Uint8Array[] {
  let sharedBytes = 0;
  for (const p of payloads) sharedBytes += RECORD_HEADER_BYTES + (p.length < COPY_BELOW_BYTES ? p.length : 0);
  const shared = new Uint8Array(sharedBytes);
  const chunks: Uint8Array[] = [];
  let runStart = 0;
  let at = 0;
  for (const p of payloads) {
    putRecordHeader(shared, at, type, p);
    at += RECORD_HEADER_BYTES;
    if (p.length < COPY_BELOW_BYTES) {
      shared.set(p, at);
      at += p.length;
    } else {
      chunks.push(shared.subarray(runStart, at), p);
      runStart = at;
    }
  }
  if (at > runStart) chunks.push(shared.subarray(runStart, at));
  return chunks;
}

/** A record that passed every check; `payload` is a view into the log's bytes. */
export interface IntactRecord {
  type: number;
  payload: Uint8Array;
  /** Offset just past the record. */
  end: number;
}

/** A record that failed a check. */
export interface DamagedRecord {
  /** The check that failed, for error messages and salvage reports. */
  what: string;
  /**
   * Offset just past the record when its header checksum passed, so that its length can be
   * trusted; undefined when nothing in the record can be trusted.
   */
  trustedEnd: number | undefined;
  /** The record runs past the end of the file: its header is short, or its trusted length is. */
  cutShort: boolean;
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

/** Checks the record at `offset` of `bytes`, in header order. Never throws. */
export function parseRecord(bytes: Uint8Array, offset: number): IntactRecord | DamagedRecord {
  const available = bytes.length - offset;
  if (available < RECORD_HEADER_BYTES) {
    return { what: `record header cut short (${available} of ${RECORD_HEADER_BYTES} bytes)`, trustedEnd: undefined, cutShort: true };
  }
  const storedHeaderChecksum = getU32(bytes, offset);
  const headerChecksum = xxh32(bytes.subarray(offset + 4, offset + RECORD_HEADER_BYTES));
  if (storedHeaderChecksum !== headerChecksum) {
    return { what: `record header checksum mismatch (stored ${hex(storedHeaderChecksum)}, computed ${hex(headerChecksum)})`, trustedEnd: undefined, cutShort: false };
  }
  const length = getU32(bytes, offset + 4);
  const payloadStart = offset + RECORD_HEADER_BYTES;
  const end = payloadStart + length;
  if (end > bytes.length) {
    return { what: `record length ${length} runs past the end of the file (${bytes.length - payloadStart} bytes left)`, trustedEnd: end, cutShort: true };
  }
  const payload = bytes.subarray(payloadStart, end);
  const storedPayloadChecksum = getU32(bytes, offset + 9);
  const payloadChecksum = xxh32(payload);
  if (storedPayloadChecksum !== payloadChecksum) {
    return { what: `record payload checksum mismatch (stored ${hex(storedPayloadChecksum)}, computed ${hex(payloadChecksum)})`, trustedEnd: end, cutShort: false };
  }
  return { type: bytes[offset + 8]!, payload, end };
}

/**
 * Calls `visit` with each record of `bytes`, records this process framed itself (a commit
 * group just appended), in order: its payload is bytes[payloadAt, end), and `end` is also the
 * offset just past the record. No checksum is checked: the bytes never left memory.
 */
export function forEachFramedRecord(bytes: Uint8Array, visit: (type: number, payloadAt: number, end: number) => void): void {
  for (let at = 0; at + RECORD_HEADER_BYTES <= bytes.length; ) {
    const end = at + RECORD_HEADER_BYTES + getU32(bytes, at + 4);
    visit(bytes[at + 8]!, at + RECORD_HEADER_BYTES, end);
    at = end;
  }
}

/**
 * forEachFramedRecord's walk for a caller's own loop, without a callback a record (the change
 * ring's, a record a write): after start(), each next(bytes) moves to the next record of
 * `bytes` and sets its type, payloadAt and end; false past the last. Reused walk after walk.
 */
export class FramedRecordWalk {
  type = 0;
  payloadAt = 0;
  end = 0;

  /** The walk starts at `at` (a record's start). */
  start(at = 0): void {
    this.end = at;
  }

  next(bytes: Uint8Array): boolean {
    const at = this.end;
    if (at + RECORD_HEADER_BYTES > bytes.length) return false;
    this.type = bytes[at + 8]!;
    this.payloadAt = at + RECORD_HEADER_BYTES;
    this.end = at + RECORD_HEADER_BYTES + getU32(bytes, at + 4);
    return true;
  }
}

/**
 * Offset of the first intact record starting at or after `from`, or undefined. Tries every
 * offset, for reading past damage.
 */
export function findIntactRecord(bytes: Uint8Array, from: number): number | undefined {
  for (let at = from; at + RECORD_HEADER_BYTES <= bytes.length; at++) {
    if (bytes[at] === 0) {
      // An all-zero header never starts a record (the empty payload's checksum is not zero),
      // and preallocated or zero-filled tails can be long: skip to 12 bytes before the next
      // non-zero byte instead of hashing every offset.
      let nonZero = at;
      while (nonZero < bytes.length && bytes[nonZero] === 0) nonZero++;
      if (nonZero - at >= RECORD_HEADER_BYTES) {
        at = nonZero - RECORD_HEADER_BYTES; // the loop's at++ makes it nonZero - 12
        continue;
      }
    }
    if (isRecordAt(bytes, at)) return at;
  }
  return undefined;
}

// The same checks as parseRecord, cheapest first.
function isRecordAt(bytes: Uint8Array, offset: number): boolean {
  const end = offset + RECORD_HEADER_BYTES + getU32(bytes, offset + 4);
  if (end > bytes.length) return false;
  if (getU32(bytes, offset) !== xxh32(bytes.subarray(offset + 4, offset + RECORD_HEADER_BYTES))) return false;
  return getU32(bytes, offset + 9) === xxh32(bytes.subarray(offset + RECORD_HEADER_BYTES, end));
}

/**
 * Classifies the first bytes of a log file:
 * - 'intact': the header is there and names version 1; records start at LOG_FILE_HEADER_BYTES.
 * - 'torn': the file is shorter than its header (and what is there is a prefix of the magic or
 *   zeros), or is all zeros: the writer died before the header reached the disk.
 * Throws CORRUPTION for a wrong magic, NOT_SUPPORTED for a version this build does not read.
 */
export function checkFileHeader(bytes: Uint8Array, file: string): 'intact' | 'torn' {
  if (bytes.every((b) => b === 0)) return 'torn';
  const magicBytes = Math.min(bytes.length, LOG_MAGIC.length);
  for (let i = 0; i < magicBytes; i++) {
    if (bytes[i] !== LOG_MAGIC[i]) throw corruption(file, 0, 'not a stratadb log file (bad magic)');
  }
  if (bytes.length < LOG_FILE_HEADER_BYTES) return 'torn';
  const version = getU32(bytes, 8);
  if (version !== LOG_FORMAT_VERSION) {
    throw new StrataError('NOT_SUPPORTED', `${file}: log format v${version} is not supported (this build reads v${LOG_FORMAT_VERSION})`);
  }
  return 'intact';
}
