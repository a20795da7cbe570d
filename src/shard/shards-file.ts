// The SHARDS file: how a sharded database's keys are placed (router.ts) and where its shards
// are. It sits in the database's root directory, next to the LOCK file and the shard folders,
// each a complete engine (its own WAL, memtables, MANIFEST and levels). A database of one shard
// made by open() has no SHARDS file: its engine's files sit in the root directory itself.
//
//   SHARDS   := magic "STRATSHD" (8 bytes) | version u32 LE | body | checksum u32 LE
//   body v1  := shardCount u32 LE                                  (2 or more)
//   body v2  := shardCount u32 LE | placement u32 LE | flags u32 LE | generation u32 LE
//   placement := 0 modulo (xxh32 mod shardCount) | 1 jump (jump consistent hash)
//   flags    := bit 0: hash tags on; the other bits are 0
//
// checksum is xxh32 (seed 0) of every byte before it. Versions:
//   v1  shard count only: placement modulo, no hash tags, generation 0 (databases made before v2)
//   v2  placement, hash tags and generation recorded; a shard count of 1 allowed (a reshard to
//       one shard keeps its shard in a folder)
//
// The shard folders of generation 0 are shard-0 … shard-(N-1); those of generation G > 0 are
// g<G>-shard-0 … g<G>-shard-(N-1). Only the generation the SHARDS file names is the database:
// every other shard folder (and, in a database with a SHARDS file, every engine file in the root
// directory) is left over from a reshard cut short before or after its commit point, and is
// removed at the next open (reshard.ts). A new reshard's folders have the next generation, so
// they never share a name with the folders they replace.
//
// The file is written to SHARDS.tmp, fsynced, renamed to SHARDS, and the directory fsynced:
// when a database is created, after every shard's first open (so its presence says every shard
// exists); by a reshard, after every new shard is durable (that rename is the reshard's commit
// point). A reshard to or from one shard in the root directory works the same way: SHARDS
// appears (1 → N) or names generation G + 1 (N → 1) at the commit point.

import * as path from 'node:path';
import { corruption, getU32, putU32, replaceFileDurably, StrataError, xxh32, type FileSystem } from '../base/index.js';
import { Placement, type PlacementScheme } from './router.js';

export const SHARDS_FILE_VERSION = 2;
/** The most shards a database may have. */
export const MAX_SHARDS = 256;
const MAGIC = Uint8Array.from([0x53, 0x54, 0x52, 0x41, 0x54, 0x53, 0x48, 0x44]); // "STRATSHD"
const V1_BYTES = 20;
const V2_BYTES = 32;
/** Placement codes in the file. Written to disk: append, never renumber. */
const PlacementCode = { modulo: 0, jump: 1 } as const;
const FLAG_HASH_TAGS = 1;

/** What a SHARDS file records. */
export interface ShardLayout {
  placement: Placement;
  /** Names the shard folders (see above). */
  generation: number;
}

export const shardsFileName = (dir: string) => path.join(dir, 'SHARDS');

/** The folder of shard `shard` of generation 0 (a database created by open()). */
export const shardDirName = (dir: string, shard: number) => path.join(dir, `shard-${shard}`);

/** The folder of shard `shard` of `generation`. */
export const shardFolderName = (dir: string, shard: number, generation: number) =>
  generation === 0 ? shardDirName(dir, shard) : path.join(dir, `g${generation}-shard-${shard}`);

/** Every shard folder of `layout`, in shard order. */
export const shardFolders = (dir: string, layout: ShardLayout): string[] =>
  Array.from({ length: layout.placement.count }, (_, i) => shardFolderName(dir, i, layout.generation));

/** The generation and shard of a folder name, or undefined for a name that is not a shard folder's. */
export function parseShardFolder(name: string): { generation: number; shard: number } | undefined {
  const m = /^(?:g([1-9]\d*)-)?shard-(0|[1-9]\d*)$/.exec(name);
  return m ? { generation: m[1] === undefined ? 0 : Number(m[1]), shard: Number(m[2]) } : undefined;
}

/** The layout recorded in `dir`, or undefined when there is no SHARDS file. */
export async function readShardsFile(fs: FileSystem, dir: string): Promise<ShardLayout | undefined> {
  const file = shardsFileName(dir);
  if (!(await fs.exists(file))) return undefined;
  return decodeShardsFile(file, await fs.readFile(file));
}

export function decodeShardsFile(file: string, bytes: Uint8Array): ShardLayout {
  if (bytes.length < 12) throw corruption(file, 0, `${bytes.length} bytes, too short for a SHARDS file`);
  if (!MAGIC.every((b, i) => bytes[i] === b)) throw corruption(file, 0, 'bad magic number');
  const version = getU32(bytes, 8);
  const expected = version === 1 ? V1_BYTES : version === 2 ? V2_BYTES : undefined;
  // A version this build does not know is refused by name, once its checksum (at the end,
  // whatever the version) shows it is not damage.
  const end = expected ?? bytes.length;
  if (bytes.length !== end) throw corruption(file, 0, `${bytes.length} bytes, expected ${end} for version ${version}`);
  if (end < 16 || getU32(bytes, end - 4) !== xxh32(bytes.subarray(0, end - 4))) throw corruption(file, Math.max(0, end - 4), 'checksum mismatch');
  if (expected === undefined) {
    if (version > SHARDS_FILE_VERSION) throw new StrataError('NOT_SUPPORTED', `${file}: SHARDS format v${version} is not supported (this build reads v${SHARDS_FILE_VERSION})`);
    throw corruption(file, 8, `unknown version ${version}`);
  }
  const count = getU32(bytes, 12);
  if (version === 1) {
    if (count < 2) throw corruption(file, 12, `shard count ${count}`);
    return { placement: new Placement(count, 'modulo', false), generation: 0 };
  }
  if (count < 1) throw corruption(file, 12, `shard count ${count}`);
  const code = getU32(bytes, 16);
  const scheme = (Object.keys(PlacementCode) as PlacementScheme[]).find((s) => PlacementCode[s] === code);
  if (scheme === undefined) throw corruption(file, 16, `unknown placement ${code}`);
  const flags = getU32(bytes, 20);
  if ((flags & ~FLAG_HASH_TAGS) !== 0) throw corruption(file, 20, `unknown flags ${flags}`);
  return { placement: new Placement(count, scheme, (flags & FLAG_HASH_TAGS) !== 0), generation: getU32(bytes, 24) };
}

export function encodeShardsFile(layout: ShardLayout): Uint8Array {
  const bytes = new Uint8Array(V2_BYTES);
  bytes.set(MAGIC, 0);
  putU32(bytes, 8, 2);
  putU32(bytes, 12, layout.placement.count);
  putU32(bytes, 16, PlacementCode[layout.placement.scheme]);
  putU32(bytes, 20, layout.placement.hashTags ? FLAG_HASH_TAGS : 0);
  putU32(bytes, 24, layout.generation);
  putU32(bytes, 28, xxh32(bytes.subarray(0, 28)));
  return bytes;
}

/** Records `layout` in `dir` durably (temp file, fsync, rename, directory fsync). */
export async function writeShardsFile(fs: FileSystem, dir: string, layout: ShardLayout): Promise<void> {
  await replaceFileDurably(fs, dir, shardsFileName(dir), encodeShardsFile(layout));
}
