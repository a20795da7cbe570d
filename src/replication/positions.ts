// Where replication keeps its positions, and their bytes. This file owns both formats.
//
// The primary: REPLICATION-<stream>, a file in the database's root directory, holds the highest
// sequence number JetStream acknowledged for that stream (every write at or below it was
// acknowledged; a publish resumes above it):
//
//   REPLICATION-<stream> := magic "STRATREP" (8 bytes) | version u32 LE | acknowledged u64 LE | checksum u32 LE
//   checksum             := xxh32 (seed 0) of every byte before it
//
// It is written to REPLICATION-<stream>.tmp, fsynced, renamed and the directory fsynced, so a
// crash leaves the old position or the new one; an older position only means that some writes
// are published again, which the stream drops as duplicates and a replica skips.
//
// The replica: one key of its own database, APPLIED_KEY, hidden from its reads and its change
// feed, written as the last operation of every batch the replica applies (so the position and
// the writes it covers are durable together, or neither):
//
//   applied := version u8 | identity (16 bytes) | seq u64 LE | streamSeq u64 LE
//
// identity is the primary's, seq the highest of its writes applied, streamSeq the stream's
// sequence number of the message that carried it (where a restart starts to read).
// Versions: 1 as above (both formats). An unknown version is refused with NOT_SUPPORTED.

import * as path from 'node:path';
import { corruption, getU32, getU64, ioError, putU32, putU64, StrataError, xxh32, type FileSystem } from '../base/index.js';

const MAGIC = Buffer.from('STRATREP', 'latin1');
const VERSION = 1;
const FILE_BYTES = 8 + 4 + 8 + 4;

/** The replica's position key: sorts after every key that starts with a byte below 0xff. */
export const APPLIED_KEY = Buffer.from('\xff\xffstratadb:replica:applied', 'latin1');

export const positionFileName = (dir: string, stream: string) => path.join(dir, `REPLICATION-${stream}`);

/** The acknowledged position recorded in `dir` for `stream`, or undefined when there is none. */
export async function readPosition(fs: FileSystem, dir: string, stream: string): Promise<number | undefined> {
  const file = positionFileName(dir, stream);
  if (!(await fs.exists(file))) return undefined;
  const bytes = await fs.readFile(file);
  if (bytes.length < 12 || !Buffer.from(bytes.subarray(0, 8)).equals(MAGIC)) throw corruption(file, 0, 'not a replication position file (bad magic)');
  const version = getU32(bytes, 8);
  if (version !== VERSION) throw new StrataError('NOT_SUPPORTED', `${file}: replication position format v${version}`);
  if (bytes.length !== FILE_BYTES) throw corruption(file, 0, `a position file of ${bytes.length} bytes, expected ${FILE_BYTES}`);
  if (getU32(bytes, 20) !== xxh32(bytes.subarray(0, 20))) throw corruption(file, 20, 'position file checksum mismatch');
  const acknowledged = getU64(bytes, 12);
  if (acknowledged < 0) throw corruption(file, 12, 'acknowledged sequence out of range');
  return acknowledged;
}

/** Durably replaces the acknowledged position of `stream` in `dir`. */
export async function writePosition(fs: FileSystem, dir: string, stream: string, acknowledged: number): Promise<void> {
  const file = positionFileName(dir, stream);
  const bytes = new Uint8Array(FILE_BYTES);
  bytes.set(MAGIC, 0);
  putU32(bytes, 8, VERSION);
  putU64(bytes, 12, acknowledged);
  putU32(bytes, 20, xxh32(bytes.subarray(0, 20)));
  const temp = `${file}.tmp`;
  const out = await fs.createWritable(temp);
  try {
    await out.append(bytes);
    await out.sync();
  } catch (err) {
    throw ioError('write', temp, err);
  } finally {
    await out.close();
  }
  await fs.rename(temp, file);
  await fs.syncDir(dir);
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
