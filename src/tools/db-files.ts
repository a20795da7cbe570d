// Read-only access to a database directory and its files, for the tools. Nothing here writes,
// and nothing takes the LOCK: the tools must not disturb a process that has the database
// open (which may, in turn, change files while a tool reads them).
//
// The bytes are parsed by their owners only: CURRENT and the MANIFEST by VersionSet.recover
// and decodeEdit (src/manifest), logs by readLog (src/wal), batches by decodeBatch
// (src/base), tables by TableReader (src/sstable).

import * as path from 'node:path';
import {
  corruption,
  decodeBatch,
  manifestFileName,
  parseFileName,
  tableFileName,
  walFileName,
  StrataError,
  type BatchEntry,
  type FileKind,
  type FileSystem,
  type SeqNum,
} from '../base/index.js';
import { decodeCommit, decodePrepare, isPrepare } from '../engine/index.js';
import { decodeEdit, VersionSet, type VersionEdit } from '../manifest/index.js';
import { TableReader } from '../sstable/index.js';
import { readLog, RecordType, WAL_ALLOCATION_UNIT, type LogReadMode, type LogRecord } from '../wal/index.js';
import { reasonOf, type Output } from './output.js';

/** A problem with the command line or its paths (exit code 2), not with the database. */
export class UsageError extends Error {}

/** A directory entry, classified by name. */
export interface DirEntry {
  name: string;
  /** undefined for a name stratadb never writes. */
  kind: FileKind | undefined;
  number: number;
}

// Names (not paths) of a database's files, as src/base/filenames.ts spells them.
export const tableName = (n: number): string => path.basename(tableFileName('.', n));
export const walName = (n: number): string => path.basename(walFileName('.', n));
export const manifestName = (n: number): string => path.basename(manifestFileName('.', n));

/** The entries of `dir`, sorted by name. Throws UsageError when it cannot be listed. */
export async function listDir(fs: FileSystem, dir: string): Promise<DirEntry[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    const errno = err instanceof StrataError ? err.errno : undefined;
    if (errno === 'ENOENT') throw new UsageError(`${dir}: no such directory`);
    if (errno === 'ENOTDIR') throw new UsageError(`${dir} is not a directory`);
    throw new UsageError(`cannot read ${dir}: ${(err as Error).message}`);
  }
  return names.sort().map((name) => {
    const parsed = parseFileName(name);
    return { name, kind: parsed?.kind, number: parsed?.number ?? 0 };
  });
}

/**
 * Throws UsageError unless `entries` hold CURRENT or a file only stratadb writes (a directory
 * that holds a MANIFEST, a table or a WAL but no CURRENT is a damaged database, not a stranger).
 */
export function requireDatabase(dir: string, entries: readonly DirEntry[]): void {
  const ours = entries.some((e) => e.kind === 'current' || e.kind === 'manifest' || e.kind === 'table' || e.kind === 'wal');
  if (!ours) throw new UsageError(`${dir} is not a stratadb database (no CURRENT, MANIFEST, table or WAL in it)`);
}

/**
 * The directory's entries and live version, for a command that shows them (dump, stats). A
 * directory that is not a database throws UsageError; an unreadable CURRENT or MANIFEST is
 * reported on `out` as `stratadb <command>: why` and gives undefined (exit code 1).
 */
export async function readDatabase(
  fs: FileSystem,
  dir: string,
  command: string,
  out: Output,
): Promise<{ entries: DirEntry[]; versions: VersionSet } | undefined> {
  const entries = await listDir(fs, dir);
  requireDatabase(dir, entries);
  try {
    return { entries, versions: await VersionSet.recover(fs, dir) };
  } catch (err) {
    out.error(`stratadb ${command}: ${reasonOf(err)}`);
    return undefined;
  }
}

/** The numbers of the WALs recovery would replay (at or above `logNumber`), oldest first. */
export function liveWalNumbers(entries: readonly DirEntry[], logNumber: number): number[] {
  return entries.filter((e) => e.kind === 'wal' && e.number >= logNumber).map((e) => e.number).sort((a, b) => a - b);
}

/** A damaged region of a log that salvage mode skipped. */
export interface LogDamage {
  offset: number;
  bytes: number;
  reason: string;
}

export interface LogContents {
  records: LogRecord[];
  fileBytes: number;
  /** Where a torn tail begins when the log ends in one; its bytes were dropped. */
  tornTailAt: number | undefined;
}

/**
 * The intact records of the log `file`, read in `mode` (src/wal/log-reader.ts): 'strict' and
 * 'tolerate-tail' throw CORRUPTION on damage, 'salvage' reports it through `onDamage`.
 */
export async function readLogRecords(fs: FileSystem, file: string, mode: LogReadMode, onDamage?: (d: LogDamage) => void): Promise<LogContents> {
  const bytes = await fs.readFile(file);
  const result = readLog(bytes, file, {
    mode,
    allocationUnit: parseFileName(path.basename(file))?.kind === 'wal' ? WAL_ALLOCATION_UNIT : 0,
    ...(onDamage ? { onSkipped: (offset: number, skipped: number, reason: string) => onDamage({ offset, bytes: skipped, reason }) } : {}),
  });
  return { records: result.records, fileBytes: bytes.length, tornTailAt: result.tornTail ? result.endOffset : undefined };
}

export interface WalBatch {
  offset: number;
  firstSeq: SeqNum;
  /** A shard's part of a batch across shards (Prepare), or its Commit record (no entries). */
  twoPhase?: { record: 'prepare' | 'commit'; txn: SeqNum };
  entries: BatchEntry[];
}

/** The batch in WAL record `record` of `file`; throws CORRUPTION naming file and offset. */
export function decodeWalRecord(file: string, record: LogRecord): WalBatch {
  if (record.type === RecordType.LogsSynced) return { offset: record.offset, firstSeq: 0, entries: [] };
  const known = record.type === RecordType.Batch || isPrepare(record.type) || record.type === RecordType.Commit;
  if (!known) throw corruption(file, record.offset, `record type ${record.type} in a WAL`);
  try {
    if (isPrepare(record.type)) {
      const { txn, batch } = decodePrepare(record.type, record.payload);
      return { offset: record.offset, firstSeq: batch.firstSeq, entries: batch.entries, twoPhase: { record: 'prepare', txn } };
    }
    if (record.type === RecordType.Commit) {
      return { offset: record.offset, firstSeq: 0, entries: [], twoPhase: { record: 'commit', txn: decodeCommit(record.payload) } };
    }
    const batch = decodeBatch(record.payload);
    return { offset: record.offset, firstSeq: batch.firstSeq, entries: batch.entries };
  } catch (err) {
    if (err instanceof StrataError && err.code === 'CORRUPTION') throw corruption(file, record.offset, err.message);
    throw err;
  }
}

/** The version edit in MANIFEST record `record` of `file`; throws CORRUPTION or NOT_SUPPORTED. */
export function decodeManifestRecord(file: string, record: LogRecord): VersionEdit {
  if (record.type !== RecordType.ManifestEdit) throw corruption(file, record.offset, `record type ${record.type} in a MANIFEST`);
  try {
    return decodeEdit(record.payload);
  } catch (err) {
    if (err instanceof StrataError && err.code === 'CORRUPTION') throw corruption(file, record.offset, err.message);
    throw err;
  }
}

/** Whether log records of `type` are WAL batches or MANIFEST edits; undefined for neither. */
export function logKindOf(type: number): 'wal' | 'manifest' | undefined {
  return type === RecordType.Batch || type === RecordType.LogsSynced ? 'wal' : type === RecordType.ManifestEdit ? 'manifest' : undefined;
}

/**
 * Opens the table `file` for reading: footer, index, filter and properties are read and
 * checksummed. No block cache. The caller closes the reader.
 */
export function openTable(fs: FileSystem, file: string, fileNumber: number): TableReader {
  const handle = fs.openReadable(file);
  try {
    return TableReader.open(handle, fileNumber, undefined);
  } catch (err) {
    handle.close();
    throw err;
  }
}
