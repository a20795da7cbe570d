/**
 * One shard's part of a checkpoint: an openable copy of its tables at sequence number S in a
 * new directory (src/shard/checkpoint.ts makes the whole database's, and says how S is one
 * moment).
 *
 * Invariants:
 * 1. The view it copies (Engine.checkpointView) holds, in its tables, every entry at or below
 *    S that a reader at S can see: the engine rotated and flushed the memtables holding writes
 *    published up to S, and S stays pinned (a snapshot) until the copy is done, so no
 *    compaction drops a version a reader at S needs.
 * 2. The copy holds no entry above S. A table whose largest sequence number is at or below S
 *    is linked under the same file number (copied where the file system cannot link); one
 *    that also holds later writes (the flush of the memtable rotated for the checkpoint does)
 *    is rewritten without them, under a new number.
 * 3. Every file is durable before the MANIFEST names it, and the MANIFEST (log number 0, no
 *    WAL; last sequence S) before CURRENT names it; CURRENT goes last, through the version set
 *    as at every open.
 */

import {
  invariant,
  StrataError,
  tableFileName,
  type FileSystem,
  type InternalIterator,
  type SeqNum,
} from '../base/index.js';
import { writeTable } from '../compaction/index.js';
import { VersionSet, type TableMeta, type Version } from '../manifest/index.js';
import { TableReader, type TableBuilderOptions } from '../sstable/index.js';

/** What a checkpoint copies of one engine. The version is ref()ed until release(). */
export interface CheckpointView {
  fs: FileSystem;
  dir: string;
  version: Version;
  builder: TableBuilderOptions;
  /** The merge operator's name the shard records, if any: the copy records it too. */
  mergeOperator?: string;
  release(): void;
}

/** What one shard's copy holds. */
export interface ShardCheckpoint {
  tables: number;
  linked: number;
  copied: number;
  rewritten: number;
  /** Bytes of new data written (copies and rewrites; links cost none). */
  bytesWritten: number;
}

/** Bytes moved per read and append when a table is copied. */
const COPY_CHUNK_BYTES = 1 << 20;

/**
 * Writes the shard at `view` as it was at `seq` into `dst` (created; it must not exist or be
 * empty). Resolves once every file of it, and `dst`'s own entries, are durable.
 */
export async function writeShardCheckpoint(view: CheckpointView, dst: string, seq: SeqNum): Promise<ShardCheckpoint> {
  const { fs, dir } = view;
  await fs.mkdir(dst);
  const result: ShardCheckpoint = { tables: 0, linked: 0, copied: 0, rewritten: 0, bytesWritten: 0 };
  const added: { level: number; table: TableMeta }[] = [];
  const files = [...view.version.allFiles()];
  let nextNumber = 1;
  for (const { table } of files) nextNumber = Math.max(nextNumber, table.fileNumber + 1);
  for (const { level, table } of files) {
    const from = tableFileName(dir, table.fileNumber);
    if (table.largestSeq <= seq) {
      const to = tableFileName(dst, table.fileNumber);
      if (await linkOrCopy(fs, from, to)) result.linked++;
      else {
        result.copied++;
        result.bytesWritten += table.fileSize;
      }
      added.push({ level, table });
      continue;
    }
    const n = nextNumber++;
    const rewritten = await writeTable(fs, dst, n, upTo(openTable(fs, from, table.fileNumber), seq), view.builder);
    result.rewritten++;
    if (rewritten !== undefined) {
      result.bytesWritten += rewritten.fileSize;
      added.push({ level, table: rewritten });
    }
  }
  result.tables = added.length;
  const versions = VersionSet.empty(fs, dst);
  versions.markFileNumberUsed(nextNumber);
  try {
    // Log number 0: the copy has no WAL, and opening it replays none.
    await versions.startManifest({ logNumber: 0, lastSequence: seq, added, ...(view.mergeOperator !== undefined && { mergeOperator: view.mergeOperator }) });
  } finally {
    await versions.close();
  }
  return result;
}

/**
 * Gives the table `from` the name `to` too (link(2)); where the file system refuses (another
 * device: EXDEV; no links: EPERM, ENOTSUP), copies it and syncs the copy. True when linked.
 * The new directory entry is durable after the directory's next sync.
 */
export async function linkOrCopy(fs: FileSystem, from: string, to: string): Promise<boolean> {
  if (fs.link !== undefined) {
    try {
      await fs.link(from, to);
      return true;
    } catch (err) {
      if (!(err instanceof StrataError) || err.code !== 'IO_ERROR' || !LINK_REFUSED.has(err.errno ?? '')) throw err;
    }
  }
  await copyFile(fs, from, to);
  return false;
}

/** errnos of a file system that cannot link these two names: copy instead. */
const LINK_REFUSED = new Set(['EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK']);

/** Copies `from` to a new file `to` in chunks and syncs it. On failure `to` is removed. */
export async function copyFile(fs: FileSystem, from: string, to: string): Promise<void> {
  const source = fs.openReadable(from);
  try {
    const out = await fs.createWritable(to);
    try {
      for (let at = 0; at < source.size; at += COPY_CHUNK_BYTES) {
        await out.append(source.read(at, Math.min(COPY_CHUNK_BYTES, source.size - at)));
      }
      await out.sync();
    } catch (err) {
      await out.close().catch(() => {});
      await fs.unlink(to).catch(() => {});
      throw err;
    }
    await out.close();
  } finally {
    source.close();
  }
}

function openTable(fs: FileSystem, file: string, fileNumber: number): InternalIterator {
  const reader = TableReader.openPath(fs, file, fileNumber, undefined);
  // The iterator holds its own reference: the file closes when the iterator does.
  const it = reader.iterator();
  reader.close();
  return it;
}

/** `it` without the entries above `seq` (forward only: what writeTable needs). */
function upTo(it: InternalIterator, seq: SeqNum): InternalIterator {
  const skip = () => {
    while (it.valid() && it.seq() > seq) it.next();
  };
  const forwardOnly = () => invariant(false, 'a checkpoint rewrite reads forward only');
  return {
    valid: () => it.valid(),
    seekToFirst: () => {
      it.seekToFirst();
      skip();
    },
    seek: (key) => {
      it.seek(key);
      skip();
    },
    next: () => {
      it.next();
      skip();
    },
    seekToLast: forwardOnly,
    seekForPrev: forwardOnly,
    prev: forwardOnly,
    key: () => it.key(),
    seq: () => it.seq(),
    kind: () => it.kind(),
    value: () => it.value(),
    close: () => it.close(),
  };
}
