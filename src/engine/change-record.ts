/**
 * The writes a shard's log records stand for, as the change feed takes them: a Batch record is
 * one write, a Prepare (or PrepareInOrder) record one shard's part of a batch that spans
 * shards. Read from the logs (ChangeLog) and from memory (ChangeRing) alike, so that a feed
 * gives the same changes, in the same order, whichever it read.
 */

import { BATCH_HEADER_BYTES, getU32, getU64, StrataError, type SeqNum } from '../base/index.js';
import { RecordType } from '../wal/index.js';
import { decodePrepareHead, isPrepare } from './two-phase-format.js';

/**
 * A write as one shard's log holds it: its batch (src/base/batch-format.ts) is bytes[batchAt,
 * batchEnd), decoded only when delivered. `owned`: `bytes` is a Buffer that belongs to the one
 * feed reading it and holds no more than a commit group (a ring's copy), so a change may hand
 * out views into it; otherwise (a chunk of log) a change copies its own bytes.
 */
export type ShardRecord =
  | { kind: 'batch'; firstSeq: SeqNum; lastSeq: SeqNum; bytes: Uint8Array; batchAt: number; batchEnd: number; owned: boolean; log: number; end: number }
  | {
      kind: 'part';
      txn: SeqNum;
      participants: number[];
      /** Where each entry stood in the batch as given; undefined for a record of the first layout. */
      places: Uint32Array | undefined;
      firstSeq: SeqNum;
      lastSeq: SeqNum;
      bytes: Uint8Array;
      batchAt: number;
      batchEnd: number;
      owned: boolean;
      log: number;
      end: number;
    };

/** Where a Commit record was found. */
export interface CommitSeen {
  log: number;
  end: number;
}

/**
 * The write a record of `type` holds (Batch, Prepare, PrepareInOrder), its payload
 * bytes[payloadAt, payloadEnd), ending at `end` of log `log`; undefined for another record.
 * Reads the heads only: the batch itself is checked when decoded. Throws CORRUPTION for a
 * malformed head. `owned`: as ShardRecord says.
 */
export function writeOf(type: number, bytes: Uint8Array, payloadAt: number, payloadEnd: number, log: number, end: number, owned: boolean): ShardRecord | undefined {
  if (type === RecordType.Batch) {
    checkBatchHead(payloadAt, payloadEnd);
    return batchWriteOf(getU64(bytes, payloadAt), bytes, payloadAt, payloadEnd, log, end, owned);
  }
  if (isPrepare(type)) {
    const { txn, participants, places, batchAt: headBytes } = decodePrepareHead(type, bytes.subarray(payloadAt, payloadEnd));
    const batchAt = payloadAt + headBytes;
    checkBatchHead(batchAt, payloadEnd);
    const firstSeq = getU64(bytes, batchAt);
    const lastSeq = firstSeq + getU32(bytes, batchAt + 8) - 1;
    return { kind: 'part', txn, participants, places, firstSeq, lastSeq, bytes, batchAt, batchEnd: payloadEnd, owned, log, end };
  }
  return undefined;
}

/**
 * writeOf() for a Batch record whose first sequence number (the head of its batch) the caller
 * has read (the ring, which skips the records at or below a number by it).
 */
export function batchWriteOf(firstSeq: SeqNum, bytes: Uint8Array, payloadAt: number, payloadEnd: number, log: number, end: number, owned: boolean): ShardRecord {
  checkBatchHead(payloadAt, payloadEnd);
  const lastSeq = firstSeq + getU32(bytes, payloadAt + 8) - 1;
  return { kind: 'batch', firstSeq, lastSeq, bytes, batchAt: payloadAt, batchEnd: payloadEnd, owned, log, end };
}

function checkBatchHead(at: number, end: number): void {
  if (end - at < BATCH_HEADER_BYTES) throw new StrataError('CORRUPTION', 'malformed batch: shorter than its header');
}
