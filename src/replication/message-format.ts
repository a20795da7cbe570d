// A replication message: one committed write (a change of the primary's change feed) as
// published to JetStream. This file owns these bytes; publisher and replica import from here.
//
//   message  := version u8 | identity (16 bytes) | seq u64 LE | prev u64 LE | batch | checksum u32 LE
//   batch    := the write's operations in the write-batch format (src/base/batch-format.ts),
//               its firstSeq set to seq (informational: the replica numbers its own writes)
//   checksum := xxh32 (seed 0) of every byte before it
//
// identity is the primary's (its IDENTITY file); seq the number the write resolved to on the
// primary; prev the number of the write before it in the primary's history (0: none), so that
// a replica knows that nothing lies between two messages: it applies a message once the
// write `prev` is applied, whatever order the stream holds them in (a publish retried after a
// failure can land after a later one).
//
// Each message's JetStream id (header Nats-Msg-Id) is `<identity>:<seq>`, so a publish retried
// within the stream's duplicate window is dropped as a duplicate.
//
// Versions: 1 as above. An unknown version is refused with NOT_SUPPORTED.

import { decodeBatch, encodeBatchInto, batchEncodedLength, getU32, getU64, putU32, putU64, StrataError, xxh32, type BatchEntry } from '../base/index.js';

export const MESSAGE_VERSION = 1;
const IDENTITY_BYTES = 16;
const HEADER_BYTES = 1 + IDENTITY_BYTES + 8 + 8;

export interface ReplicationMessage {
  /** The primary's identity, 32 hex digits. */
  identity: string;
  seq: number;
  prev: number;
  /** Views into the message's bytes. */
  entries: BatchEntry[];
}

/** The JetStream message id of the write `seq` of the database `identity`. */
export const messageId = (identity: string, seq: number) => `${identity}:${seq}`;

export function encodeMessage(identity: Uint8Array, seq: number, prev: number, entries: readonly BatchEntry[]): Uint8Array {
  const batchBytes = batchEncodedLength(entries);
  const out = new Uint8Array(HEADER_BYTES + batchBytes + 4);
  out[0] = MESSAGE_VERSION;
  out.set(identity, 1);
  putU64(out, 1 + IDENTITY_BYTES, seq);
  putU64(out, 1 + IDENTITY_BYTES + 8, prev);
  encodeBatchInto(out, HEADER_BYTES, seq, entries);
  const end = HEADER_BYTES + batchBytes;
  putU32(out, end, xxh32(out.subarray(0, end)));
  return out;
}

/**
 * Decodes a message, checking its checksum before anything else is read. Throws CORRUPTION
 * (NOT_SUPPORTED for an unknown version) whose message begins with `where` (the stream and the
 * message's sequence number in it).
 */
export function decodeMessage(bytes: Uint8Array, where: string): ReplicationMessage {
  if (bytes.length < HEADER_BYTES + 4) throw new StrataError('CORRUPTION', `${where}: a message of ${bytes.length} bytes is shorter than its header`);
  const end = bytes.length - 4;
  if (getU32(bytes, end) !== xxh32(bytes.subarray(0, end))) throw new StrataError('CORRUPTION', `${where}: message checksum mismatch`);
  if (bytes[0] !== MESSAGE_VERSION) throw new StrataError('NOT_SUPPORTED', `${where}: replication message format v${bytes[0]}`);
  const identity = Buffer.from(bytes.subarray(1, 1 + IDENTITY_BYTES)).toString('hex');
  const seq = getU64(bytes, 1 + IDENTITY_BYTES);
  const prev = getU64(bytes, 1 + IDENTITY_BYTES + 8);
  if (seq < 1 || prev < 0 || prev >= seq) throw new StrataError('CORRUPTION', `${where}: sequence numbers out of order (seq ${seq}, prev ${prev})`);
  try {
    return { identity, seq, prev, entries: decodeBatch(bytes.subarray(HEADER_BYTES, end)).entries };
  } catch (err) {
    throw new StrataError('CORRUPTION', `${where}: ${(err as Error).message}`);
  }
}
