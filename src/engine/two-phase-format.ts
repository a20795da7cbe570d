// The two WAL records of a batch that spans shards (record types Prepare and Commit).
//
//   prepare := txn u64 LE | participantCount u16 LE | participant u16 LE {participantCount} | batch
//   commit  := txn u64 LE
//
// txn is the batch's first sequence number (unique: sequence numbers are never reused).
// participants are the shard numbers holding part of the batch, ascending. batch is this
// shard's part (src/base/batch-format.ts), with its own first sequence number: the parts of
// one batch take consecutive ranges in participant order.

import { decodeBatch, getU64, putU64, StrataError, type DecodedBatch, type SeqNum } from '../base/index.js';

export const COMMIT_RECORD_BYTES = 8;

export interface DecodedPrepare {
  txn: SeqNum;
  participants: number[];
  batch: DecodedBatch;
}

/** Bytes of a prepare record's head (before the batch) for `participants` shards. */
export function prepareHeadBytes(participants: number): number {
  return 8 + 2 + 2 * participants;
}

/** Writes the head of a prepare record at `offset`; returns the offset of the batch. */
export function encodePrepareHead(out: Uint8Array, offset: number, txn: SeqNum, participants: readonly number[]): number {
  putU64(out, offset, txn);
  let p = offset + 8;
  out[p++] = participants.length & 0xff;
  out[p++] = participants.length >>> 8;
  for (const s of participants) {
    out[p++] = s & 0xff;
    out[p++] = s >>> 8;
  }
  return p;
}

export function decodePrepare(bytes: Uint8Array): DecodedPrepare {
  const bad = (what: string) => new StrataError('CORRUPTION', `malformed prepare record: ${what}`);
  if (bytes.length < 10) throw bad('shorter than its head');
  const txn = getU64(bytes, 0);
  const count = bytes[8]! | (bytes[9]! << 8);
  if (bytes.length < prepareHeadBytes(count)) throw bad('participant list cut short');
  const participants: number[] = [];
  for (let i = 0; i < count; i++) participants.push(bytes[10 + 2 * i]! | (bytes[11 + 2 * i]! << 8));
  return { txn, participants, batch: decodeBatch(bytes.subarray(prepareHeadBytes(count))) };
}

export function encodeCommit(out: Uint8Array, offset: number, txn: SeqNum): void {
  putU64(out, offset, txn);
}

export function decodeCommit(bytes: Uint8Array): SeqNum {
  if (bytes.length !== COMMIT_RECORD_BYTES) throw new StrataError('CORRUPTION', `malformed commit record: ${bytes.length} bytes`);
  return getU64(bytes, 0);
}
