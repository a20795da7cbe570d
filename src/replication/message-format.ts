// A replication message: a run of committed writes (changes of the primary's change feed) as
// published to JetStream. This file owns these bytes and the bounds both sides rely on;
// publisher and replica import from here.
//
//   message  := version u8 | identity (16 bytes) | before u64 LE | count u32 LE | change × count | checksum u32 LE
//   change   := seq u64 LE | prev u64 LE | length u32 LE | batch (length bytes)
//   batch    := the write's operations in the write-batch format (src/base/batch-format.ts),
//               its firstSeq set to seq (informational: the replica numbers its own writes)
//   checksum := xxh32 (seed 0) of every byte before it
//
// identity is the primary's (its IDENTITY file); seq the number the write resolved to on the
// primary; prev the number of the write before it in the primary's history (0: none), so that
// a replica knows that nothing lies between two writes: it applies a write once the write
// `prev` is applied, whatever order the stream holds them in. A message holds writes in
// ascending order, not necessarily adjacent ones (the publisher groups the writes of one shard:
// messages of two shards interleave), at least one and at most MAX_CHANGES_PER_MESSAGE.
// before: every write above it is in this message or in messages the publisher sent after it
// (the highest write of the messages it sent before this one since it last started, or the
// position it started at), so that a replica at position P can go on from a stream whose first
// message has before <= P, whatever was dropped ahead of it.
//
// Each message's JetStream id (header Nats-Msg-Id) is `<identity>:<first seq>-<last seq>`, so a
// publish retried within the stream's duplicate window is dropped as a duplicate, and a retry
// that grouped the writes differently is a different message (a replica skips what it applied).
//
// Versions: 3 as above, at most MAX_CHANGES_PER_MESSAGE (2048) writes a message; 2 the same
// bytes with at most 1024, still read (a stream keeps what older primaries wrote); 1, one write
// per message without count and length, is no longer written or read. An unknown version is
// refused with NOT_SUPPORTED, so a replica too old for a message says so rather than taking a
// larger message for a damaged one. (v3: fewer, fuller messages: each costs the publishing
// thread, nats-server and the writers' thread about 360 µs of CPU besides its bytes; 600k
// writes went as 370 messages instead of 608, 0.3 µs of CPU a write less.)

import { decodeBatch, encodeBatchInto, batchEncodedLength, getU32, getU64, putU32, putU64, StrataError, xxh32, type BatchEntry } from '../base/index.js';

export const MESSAGE_VERSION = 3;
/** Writes in one message at most, and the bytes of their batches at which a publisher ends one. */
export const MAX_CHANGES_PER_MESSAGE = 2048;
/** Writes in a message of version 2 at most. */
const V2_MAX_CHANGES = 1024;
export const MESSAGE_TARGET_BYTES = 256 << 10;
/** Messages a publisher has unanswered at most: a retried publish lands at most this far behind a later one. */
export const MAX_MESSAGES_IN_FLIGHT = 64;
const IDENTITY_BYTES = 16;
const HEADER_BYTES = 1 + IDENTITY_BYTES + 8 + 4;
const CHANGE_HEADER_BYTES = 8 + 8 + 4;

export interface ReplicatedChange {
  seq: number;
  prev: number;
  /** Views into the message's bytes. */
  entries: BatchEntry[];
}

export interface ReplicationMessage {
  /** The primary's identity, 32 hex digits. */
  identity: string;
  /** Every write above it is in this message or in later ones (the format above). */
  before: number;
  /** In ascending seq order. */
  changes: ReplicatedChange[];
}

/** The JetStream message id of the message holding the writes `first` to `last` of the database `identity`. */
export const messageId = (identity: string, first: number, last: number) => `${identity}:${first}-${last}`;

/** A write to encode: its operations, or its batch's bytes already in the write-batch format. */
export type ChangeToSend = { seq: number; prev: number } & ({ entries: readonly BatchEntry[]; batch?: undefined } | { batch: Uint8Array; entries?: undefined });

/** The bytes `change` takes in a message. */
export function changeEncodedLength(change: ChangeToSend): number {
  return CHANGE_HEADER_BYTES + (change.batch === undefined ? batchEncodedLength(change.entries) : change.batch.length);
}

/** The message of `changes`, in memory from `allocate` (a fresh Uint8Array by default). */
export function encodeMessage(identity: Uint8Array, before: number, changes: readonly ChangeToSend[], allocate: (length: number) => Uint8Array = (length) => new Uint8Array(length)): Uint8Array {
  let length = HEADER_BYTES + 4;
  for (const c of changes) length += changeEncodedLength(c);
  const out = allocate(length);
  out[0] = MESSAGE_VERSION;
  out.set(identity, 1);
  putU64(out, 1 + IDENTITY_BYTES, before);
  putU32(out, 1 + IDENTITY_BYTES + 8, changes.length);
  let p = HEADER_BYTES;
  for (const c of changes) {
    putU64(out, p, c.seq);
    putU64(out, p + 8, c.prev);
    let end: number;
    if (c.batch === undefined) {
      end = encodeBatchInto(out, p + CHANGE_HEADER_BYTES, c.seq, c.entries);
    } else {
      out.set(c.batch, p + CHANGE_HEADER_BYTES);
      putU64(out, p + CHANGE_HEADER_BYTES, c.seq);
      end = p + CHANGE_HEADER_BYTES + c.batch.length;
    }
    putU32(out, p + 16, end - (p + CHANGE_HEADER_BYTES));
    p = end;
  }
  putU32(out, p, xxh32(out.subarray(0, p)));
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
  const version = bytes[0];
  if (version !== MESSAGE_VERSION && version !== 2) throw new StrataError('NOT_SUPPORTED', `${where}: replication message format v${version}`);
  const identity = Buffer.from(bytes.subarray(1, 1 + IDENTITY_BYTES)).toString('hex');
  const before = getU64(bytes, 1 + IDENTITY_BYTES);
  const count = getU32(bytes, 1 + IDENTITY_BYTES + 8);
  if (count < 1 || count > (version === 2 ? V2_MAX_CHANGES : MAX_CHANGES_PER_MESSAGE)) throw new StrataError('CORRUPTION', `${where}: a message of ${count} writes`);
  const changes: ReplicatedChange[] = [];
  let p = HEADER_BYTES;
  let last = 0;
  for (let i = 0; i < count; i++) {
    if (p + CHANGE_HEADER_BYTES > end) throw new StrataError('CORRUPTION', `${where}: write ${i} of ${count} runs past the message's end`);
    const seq = getU64(bytes, p);
    const prev = getU64(bytes, p + 8);
    const length = getU32(bytes, p + 16);
    const batchAt = p + CHANGE_HEADER_BYTES;
    if (batchAt + length > end) throw new StrataError('CORRUPTION', `${where}: write ${i} of ${count} runs past the message's end`);
    if (seq < 1 || prev < 0 || prev >= seq || seq <= last) throw new StrataError('CORRUPTION', `${where}: sequence numbers out of order (write ${seq} after ${last}, following ${prev})`);
    try {
      changes.push({ seq, prev, entries: decodeBatch(bytes.subarray(batchAt, batchAt + length)).entries });
    } catch (err) {
      throw new StrataError('CORRUPTION', `${where}: ${(err as Error).message}`);
    }
    last = seq;
    p = batchAt + length;
  }
  if (p !== end) throw new StrataError('CORRUPTION', `${where}: ${end - p} bytes after the last write`);
  return { identity, before, changes };
}
