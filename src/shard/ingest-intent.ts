// The INGEST file: an ingest across shards that may be installed in some shards and not yet in
// others. It sits in a sharded database's root directory while the shards' MANIFEST edits are
// written, and makes the ingest all or nothing across a crash: an open that finds it applies
// each shard's part unless that shard's MANIFEST already holds it (src/shard/ingest.ts).
//
//   INGEST  := magic "STRATING" (8 bytes) | version u32 LE (1) | payloadLength u32 LE
//              | payload | checksum u32 LE
//   payload := msgpack [seq, [[shard, edit]...]]   edit: a version edit's bytes
//                                                   (src/manifest/version-edit.ts)
//   checksum := xxh32 (seed 0) of everything before it
//
// Written to INGEST.tmp, fsynced, renamed to INGEST, and the directory fsynced, after every
// ingested table is durable; removed (and the directory fsynced) once every shard's edit is.
// A shard's part counts as installed when its MANIFEST's last sequence is at least `seq`: the
// edit sets it, and nothing else can before the ingest ends (writes wait for it).

import * as path from 'node:path';
import { pack, unpack } from 'msgpackr';
import { corruption, getU32, putU32, replaceFileDurably, StrataError, xxh32, type FileSystem, type SeqNum } from '../base/index.js';
import { decodeEdit, encodeEdit, type VersionEdit } from '../manifest/index.js';

export const INGEST_FILE_VERSION = 1;
const MAGIC = Uint8Array.from([0x53, 0x54, 0x52, 0x41, 0x54, 0x49, 0x4e, 0x47]); // "STRATING"
const HEADER_BYTES = 16;

export const ingestFileName = (dir: string) => path.join(dir, 'INGEST');

export interface IngestIntent {
  seq: SeqNum;
  /** Each shard's edit, by shard index. */
  edits: Map<number, VersionEdit>;
}

export function encodeIngestIntent(intent: IngestIntent): Uint8Array {
  const payload: Uint8Array = pack([intent.seq, [...intent.edits].map(([shard, edit]) => [shard, encodeEdit(edit)])]);
  const bytes = new Uint8Array(HEADER_BYTES + payload.length + 4);
  bytes.set(MAGIC, 0);
  putU32(bytes, 8, INGEST_FILE_VERSION);
  putU32(bytes, 12, payload.length);
  bytes.set(payload, HEADER_BYTES);
  putU32(bytes, HEADER_BYTES + payload.length, xxh32(bytes.subarray(0, HEADER_BYTES + payload.length)));
  return bytes;
}

/** The intent in `dir`, or undefined when there is none. CORRUPTION when damaged. */
export async function readIngestIntent(fs: FileSystem, dir: string): Promise<IngestIntent | undefined> {
  const file = ingestFileName(dir);
  if (!(await fs.exists(file))) return undefined;
  const bytes = await fs.readFile(file);
  if (bytes.length < HEADER_BYTES + 4 || !MAGIC.every((b, i) => bytes[i] === b)) throw corruption(file, 0, 'not an INGEST file (bad magic or too short)');
  const version = getU32(bytes, 8);
  if (version !== INGEST_FILE_VERSION) throw new StrataError('NOT_SUPPORTED', `${file}: INGEST format v${version} (this build reads v${INGEST_FILE_VERSION})`);
  const length = getU32(bytes, 12);
  if (bytes.length !== HEADER_BYTES + length + 4) throw corruption(file, 12, `payload length ${length} does not match the file's ${bytes.length} bytes`);
  if (getU32(bytes, HEADER_BYTES + length) !== xxh32(bytes.subarray(0, HEADER_BYTES + length))) throw corruption(file, HEADER_BYTES + length, 'checksum mismatch');
  let seq: unknown;
  let parts: unknown;
  try {
    [seq, parts] = unpack(bytes.subarray(HEADER_BYTES, HEADER_BYTES + length)) as [unknown, unknown];
  } catch (err) {
    throw corruption(file, HEADER_BYTES, `payload is not msgpack (${(err as Error).message})`);
  }
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || !Array.isArray(parts)) throw corruption(file, HEADER_BYTES, 'malformed payload');
  const edits = new Map<number, VersionEdit>();
  for (const part of parts as unknown[]) {
    if (!Array.isArray(part) || typeof part[0] !== 'number' || !(part[1] instanceof Uint8Array)) throw corruption(file, HEADER_BYTES, 'malformed shard part');
    edits.set(part[0], decodeEdit(part[1]));
  }
  return { seq, edits };
}

/** Writes `intent` durably to `dir` (temp file, fsync, rename, directory fsync). */
export async function writeIngestIntent(fs: FileSystem, dir: string, intent: IngestIntent): Promise<void> {
  await replaceFileDurably(fs, dir, ingestFileName(dir), encodeIngestIntent(intent));
}

/** Removes the intent durably: every shard's edit is. */
export async function removeIngestIntent(fs: FileSystem, dir: string): Promise<void> {
  await fs.unlink(ingestFileName(dir));
  await fs.syncDir(dir);
}
