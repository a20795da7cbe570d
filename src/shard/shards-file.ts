// The SHARDS file: how many shards a sharded database was created with. It sits in the
// database's root directory, next to the LOCK file and the shard folders shard-0 … shard-(N-1),
// each a complete engine (its own WAL, memtables, MANIFEST and levels). A database of one
// shard has no SHARDS file: its engine's files sit in the root directory itself.
//
//   SHARDS := magic "STRATSHD" (8 bytes) | version u32 LE (1) | shardCount u32 LE | checksum u32 LE
//
// checksum is xxh32 (seed 0) of the 16 bytes before it. The file is written once, when the
// database is created: to SHARDS.tmp, fsynced, renamed to SHARDS, and the directory fsynced,
// after every shard's first open (so its presence says every shard exists).

import * as path from 'node:path';
import { corruption, getU32, ioError, putU32, StrataError, xxh32, type FileSystem } from '../base/index.js';

export const SHARDS_FILE_VERSION = 1;
const MAGIC = Uint8Array.from([0x53, 0x54, 0x52, 0x41, 0x54, 0x53, 0x48, 0x44]); // "STRATSHD"
const FILE_BYTES = 20;

export const shardsFileName = (dir: string) => path.join(dir, 'SHARDS');
export const shardDirName = (dir: string, shard: number) => path.join(dir, `shard-${shard}`);

/** The shard count recorded in `dir`, or undefined when there is no SHARDS file. */
export async function readShardsFile(fs: FileSystem, dir: string): Promise<number | undefined> {
  const file = shardsFileName(dir);
  if (!(await fs.exists(file))) return undefined;
  const bytes = await fs.readFile(file);
  if (bytes.length !== FILE_BYTES) throw corruption(file, 0, `${bytes.length} bytes, expected ${FILE_BYTES}`);
  if (!MAGIC.every((b, i) => bytes[i] === b)) throw corruption(file, 0, 'bad magic number');
  if (getU32(bytes, 16) !== xxh32(bytes.subarray(0, 16))) throw corruption(file, 16, 'checksum mismatch');
  const version = getU32(bytes, 8);
  if (version > SHARDS_FILE_VERSION) {
    throw new StrataError('NOT_SUPPORTED', `${file}: SHARDS format v${version} is not supported (this build reads v${SHARDS_FILE_VERSION})`);
  }
  if (version !== SHARDS_FILE_VERSION) throw corruption(file, 8, `unknown version ${version}`);
  const count = getU32(bytes, 12);
  if (count < 2) throw corruption(file, 12, `shard count ${count}`);
  return count;
}

/** Records `count` in `dir` durably (temp file, fsync, rename, directory fsync). */
export async function writeShardsFile(fs: FileSystem, dir: string, count: number): Promise<void> {
  const bytes = new Uint8Array(FILE_BYTES);
  bytes.set(MAGIC, 0);
  putU32(bytes, 8, SHARDS_FILE_VERSION);
  putU32(bytes, 12, count);
  putU32(bytes, 16, xxh32(bytes.subarray(0, 16)));
  const temp = `${shardsFileName(dir)}.tmp`;
  const file = await fs.createWritable(temp);
  try {
    await file.append(bytes);
    await file.sync();
  } catch (err) {
    throw ioError('write', temp, err);
  } finally {
    await file.close();
  }
  await fs.rename(temp, shardsFileName(dir));
  await fs.syncDir(dir);
}
