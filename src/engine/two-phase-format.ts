// The WAL records of a batch that spans shards (record types Prepare, PrepareInOrder, Commit).
//
//   prepare        := txn u64 LE | participantCount u16 LE | participant u16 LE {participantCount} | batch
//   prepareInOrder := txn u64 LE | participantCount u16 LE | participant u16 LE {participantCount}
//                     | placeCount u32 LE | place u32 LE {placeCount} | batch
//   commit         := txn u64 LE
//
// txn is the batch's first sequence number (unique: sequence numbers are never reused).
// participants are the shard numbers holding part of the batch, ascending. batch is this
// shard's part (src/base/batch-format.ts), with its own first sequence number: the parts of
// one batch take consecutive ranges in participant order. In prepareInOrder, place i is where
// the part's entry i stood in the batch as given (0-based); placeCount is the part's entry
// count. The places let a change feed, live or after a crash, list the operations of a batch
// in the order given; recovery does not need them.
//
// Record versions (append a line per change, never reuse a type):
//   Prepare (3)         the first layout; a change feed lists such a batch shard by shard.
//   PrepareInOrder (5)  adds the places; written by every participant since.

import { decodeBatch, getU32, getU64, putU32, putU64, StrataError, type DecodedBatch, type SeqNum } from '../base/index.js';
import { RecordType } from '../wal/index.js';

export const COMMIT_RECORD_BYTES = 8;

export interface DecodedPrepare {
  txn: SeqNum;
  participants: number[];
  batch: DecodedBatch;
  /** Where each entry stood in the batch as given; undefined for a Prepare record (the first layout). */
  places: Uint32Array | undefined;
}

/** Whether records of `type` are a shard's part of a batch across shards. */
export function isPrepare(type: number): boolean {
  return type === RecordType.Prepare || type === RecordType.PrepareInOrder;
}

/** Bytes of a prepareInOrder record's head (before the batch) for `participants` shards and `entries` entries. */
export function prepareHeadBytes(participants: number, entries: number): number {
  return 8 + 2 + 2 * participants + 4 + 4 * entries;
}

/**
 * Writes the head of a prepareInOrder record at `offset`; returns the offset of the batch.
 * REQUIRES: places.length is the part's entry count.
 */
export function encodePrepareHead(out: Uint8Array, offset: number, txn: SeqNum, participants: readonly number[], places: readonly number[]): number {
  putU64(out, offset, txn);
  let p = offset + 8;
  out[p++] = participants.length & 0xff;
  out[p++] = participants.length >>> 8;
  for (const s of participants) {
    out[p++] = s & 0xff;
    out[p++] = s >>> 8;
  }
  putU32(out, p, places.length);
  p += 4;
  for (const place of places) {
    putU32(out, p, place);
    p += 4;
  }
  return p;
}

/** The parts of a Prepare or PrepareInOrder record's head, read without decoding its batch. */
export interface PrepareHead {
  txn: SeqNum;
  participants: number[];
  places: Uint32Array | undefined;
  /** Offset of the batch in the payload. */
  batchAt: number;
}

/** Reads the head of a record of `type` (isPrepare). Throws CORRUPTION when it is malformed. */
export function decodePrepareHead(type: number, bytes: Uint8Array): PrepareHead {
  const bad = (what: string) => new StrataError('CORRUPTION', `malformed prepare record: ${what}`);
  if (bytes.length < 10) throw bad('shorter than its head');
  const txn = getU64(bytes, 0);
  const count = bytes[8]! | (bytes[9]! << 8);
  let at = 10 + 2 * count;
  if (bytes.length < at) throw bad('participant list cut short');
  const participants: number[] = [];
  for (let i = 0; i < count; i++) participants.push(bytes[10 + 2 * i]! | (bytes[11 + 2 * i]! << 8));
  let places: Uint32Array | undefined;
  if (type === RecordType.PrepareInOrder) {
    if (bytes.length < at + 4) throw bad('place count missing');
    const n = getU32(bytes, at);
    at += 4;
    if (bytes.length < at + 4 * n) throw bad('place list cut short');
    places = new Uint32Array(n);
    for (let i = 0; i < n; i++) places[i] = getU32(bytes, at + 4 * i);
    at += 4 * n;
  }
  return { txn, participants, places, batchAt: at };
}

/** Decodes a record of `type` (isPrepare). Throws CORRUPTION when it is malformed. */
export function decodePrepare(type: number, bytes: Uint8Array): DecodedPrepare {
  const { txn, participants, places, batchAt } = decodePrepareHead(type, bytes);
  const batch = decodeBatch(bytes.subarray(batchAt));
  if (places !== undefined && places.length !== batch.entries.length) {
    throw new StrataError('CORRUPTION', `malformed prepare record: ${places.length} places for ${batch.entries.length} entries`);
  }
  return { txn, participants, batch, places };
}

export function encodeCommit(out: Uint8Array, offset: number, txn: SeqNum): void {
  putU64(out, offset, txn);
}

export function decodeCommit(bytes: Uint8Array): SeqNum {
  if (bytes.length !== COMMIT_RECORD_BYTES) throw new StrataError('CORRUPTION', `malformed commit record: ${bytes.length} bytes`);
  return getU64(bytes, 0);
}
