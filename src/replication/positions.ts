// Where replication keeps its positions, and their bytes. This file owns both formats.
//
// The primary: REPLICATION-<stream>, a file in the database's root directory, holds the highest
// sequence number JetStream acknowledged for that stream (every write at or below it was
// acknowledged; a publish resumes above it) and the stream sequence of the last message that
// acknowledgement needed (where a restarted publisher looks for what it stored after it):
//
//   REPLICATION-<stream> := magic "STRATREP" (8 bytes) | version u32 LE | acknowledged u64 LE | streamSeq u64 LE | checksum u32 LE
//   checksum             := xxh32 (seed 0) of every byte before it
//
// It is written to REPLICATION-<stream>.tmp, fsynced, renamed and the directory fsynced, so a
// crash leaves the old position or the new one; an older position only means that a restart
// reads more of the stream's tail, or publishes some writes again, which a replica skips.
//
// The replica: one key of its own database, APPLIED_KEY, hidden from its reads and its change
// feed, written as the last operation of every batch the replica applies (so the position and
// the writes it covers are durable together, or neither):
//
//   applied := version u8 | identity (16 bytes) | seq u64 LE | streamSeq u64 LE
//
// identity is the primary's, seq the highest of its writes applied, streamSeq a stream sequence
// number up to which every message's writes are applied (where a restart starts to read, less
// a margin: src/replication-replica.ts).
// Versions: the primary's file 2 as above (1 had no streamSeq, and is read as streamSeq 0); the
// replica's key 1 as above. An unknown version is refused with NOT_SUPPORTED.

import * as path from 'node:path';
import { corruption, getU32, getU64, putU32, putU64, replaceFileDurably, StrataError, xxh32, type FileSystem } from '../base/index.js';

const MAGIC = Buffer.from('STRATREP', 'latin1');
const VERSION = 2;
const FILE_BYTES = 8 + 4 + 8 + 8 + 4;
const V1_FILE_BYTES = 8 + 4 + 8 + 4;

/** What the primary's position file holds. */
export interface PublishedPosition {
  acknowledged: number;
  /** 0 when not known. */
  streamSeq: number;
}

/** The replica's position key: sorts after every key that starts with a byte below 0xff. */
export const APPLIED_KEY = Buffer.from('\xff\xffstratadb:replica:applied', 'latin1');

export const positionFileName = (dir: string, stream: string) => path.join(dir, `REPLICATION-${stream}`);

/** The acknowledged position recorded in `dir` for `stream`, or undefined when there is none. */
export async function readPosition(fs: FileSystem, dir: string, stream: string): Promise<PublishedPosition | undefined> {
  const file = positionFileName(dir, stream);
  if (!(await fs.exists(file))) return undefined;
  const bytes = await fs.readFile(file);
  if (bytes.length < 12 || !Buffer.from(bytes.subarray(0, 8)).equals(MAGIC)) throw corruption(file, 0, 'not a replication position file (bad magic)');
  const version = getU32(bytes, 8);
  if (version !== VERSION && version !== 1) throw new StrataError('NOT_SUPPORTED', `${file}: replication position format v${version}`);
  const expected = version === 1 ? V1_FILE_BYTES : FILE_BYTES;
  if (bytes.length !== expected) throw corruption(file, 0, `a position file of ${bytes.length} bytes, expected ${expected}`);
  const end = expected - 4;
  if (getU32(bytes, end) !== xxh32(bytes.subarray(0, end))) throw corruption(file, end, 'position file checksum mismatch');
  const acknowledged = getU64(bytes, 12);
  if (acknowledged < 0) throw corruption(file, 12, 'acknowledged sequence out of range');
  const streamSeq = version === 1 ? 0 : getU64(bytes, 20);
  if (streamSeq < 0) throw corruption(file, 20, 'stream sequence out of range');
  return { acknowledged, streamSeq };
}

/** Durably replaces the acknowledged position of `stream` in `dir`. */
export async function writePosition(fs: FileSystem, dir: string, stream: string, { acknowledged, streamSeq }: PublishedPosition): Promise<void> {
  const file = positionFileName(dir, stream);
  const bytes = new Uint8Array(FILE_BYTES);
  bytes.set(MAGIC, 0);
  putU32(bytes, 8, VERSION);
  putU64(bytes, 12, acknowledged);
  putU64(bytes, 20, streamSeq);
  putU32(bytes, 28, xxh32(bytes.subarray(0, 28)));
  await replaceFileDurably(fs, dir, file, bytes);
}

export interface AppliedPosition {
  identity: string;
  seq: number;
  streamSeq: number;
}

const APPLIED_BYTES = 1 + 16 + 8 + 8;

export function encodeApplied(p: AppliedPosition): Uint8Array {
  const out = new Uint8Array(APPLIED_BYTES);
  out[0] = VERSION;
  out.set(Buffer.from(p.identity, 'hex'), 1);
  putU64(out, 17, p.seq);
  putU64(out, 25, p.streamSeq);
  return out;
}

/** `where` names the replica for the errors. */
export function decodeApplied(bytes: Uint8Array, where: string): AppliedPosition {
  if (bytes.length < 1 || bytes[0] !== VERSION) throw new StrataError('NOT_SUPPORTED', `${where}: replica position format v${bytes[0] ?? '?'}`);
  if (bytes.length !== APPLIED_BYTES) throw new StrataError('CORRUPTION', `${where}: a replica position of ${bytes.length} bytes, expected ${APPLIED_BYTES}`);
  const seq = getU64(bytes, 17);
  const streamSeq = getU64(bytes, 25);
  if (seq < 0 || streamSeq < 0) throw new StrataError('CORRUPTION', `${where}: replica position out of range`);
  return { identity: Buffer.from(bytes.subarray(1, 17)).toString('hex'), seq, streamSeq };
}
