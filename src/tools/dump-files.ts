// The dumps of single files for `stratadb dump` (dump.ts picks which): a table's properties
// and entries, a log's records (WAL batches or MANIFEST edits) with any damaged regions in
// file order, and the one-line form of a table's MANIFEST record that the directory dump
// shares.

import { expiresAt, EXPIRY_BYTES, isKeyAboveAll, StrataError, ValueKind, type BatchEntry, type FileSystem, type SeqNum } from '../base/index.js';
import type { TableMeta, VersionEdit } from '../manifest/index.js';
import { decodeManifestRecord, decodeWalRecord, openTable, readLogRecords, tableName, type LogContents, type LogDamage, type WalBatch } from './db-files.js';
import { bytesJson, bytesText, count, reasonOf, sizeText, type Output } from './output.js';

export interface DumpOptions {
  /** Entries (of a table) or records (of a log) shown at most. */
  limit: number;
  /** Values longer than this are cut (keys never are). */
  maxValueBytes: number;
}

/** Keys in the directory listing are cut here, to keep one table on one line. */
const MAX_KEY_SHOWN = 64;

export function tableMetaJson(t: TableMeta): Record<string, unknown> {
  return {
    file: tableName(t.fileNumber),
    fileNumber: t.fileNumber,
    fileSize: t.fileSize,
    smallestKey: bytesJson(t.smallestKey),
    largestKey: bytesJson(t.largestKey),
    smallestSeq: t.smallestSeq,
    largestSeq: t.largestSeq,
    entries: t.entries,
    deletions: t.deletions,
  };
}

export function tableMetaText(t: TableMeta): string {
  return (
    `${tableName(t.fileNumber)}  ${sizeText(t.fileSize)}  ` +
    `${bytesText(t.smallestKey, MAX_KEY_SHOWN)} .. ${bytesText(t.largestKey, MAX_KEY_SHOWN)}  ` +
    `seqs ${t.smallestSeq}..${t.largestSeq}  ${count(t.entries, 'entry', 'entries')} (${t.deletions} deleted)`
  );
}

// --- a table -------------------------------------------------------------------------------

export function dumpTable(fs: FileSystem, file: string, fileNumber: number, options: DumpOptions, out: Output): number {
  let reader: ReturnType<typeof openTable>;
  try {
    reader = openTable(fs, file, fileNumber);
  } catch (err) {
    out.error(`stratadb dump: ${reasonOf(err)}`);
    return 1;
  }
  try {
    const p = reader.properties;
    out.emit(
      {
        type: 'properties', file, fileSize: reader.fileSize, formatVersion: p.formatVersion, entries: p.entries, deletions: p.deletions,
        smallestKey: bytesJson(p.smallestKey), largestKey: isKeyAboveAll(p.largestKey) ? 'above every key' : bytesJson(p.largestKey), smallestSeq: p.smallestSeq, largestSeq: p.largestSeq,
        rawKeyBytes: p.rawKeyBytes, rawValueBytes: p.rawValueBytes, dataBlocks: p.dataBlocks, rangeDeletions: p.rangeDeletions,
      },
      [
        `${file}: table format v${p.formatVersion}, ${sizeText(reader.fileSize)}, ${count(p.dataBlocks, 'data block', 'data blocks')}`,
        `  ${count(p.entries, 'entry', 'entries')} (${p.deletions} deleted), seqs ${p.smallestSeq}..${p.largestSeq}, ` +
          `keys ${bytesText(p.smallestKey, MAX_KEY_SHOWN)} .. ${bytesText(p.largestKey, MAX_KEY_SHOWN)}`,
        `  raw key bytes ${p.rawKeyBytes}, raw value bytes ${p.rawValueBytes}, ${count(p.rangeDeletions, 'range deletion', 'range deletions')}`,
      ],
    );
    for (const t of reader.rangeTombstones) emitRangeDelete(out, t.start, t.end, t.seq, '');
    const it = reader.iterator();
    let shown = 0;
    try {
      for (it.seekToFirst(); it.valid() && shown < options.limit; it.next()) {
        emitEntry(out, it.key(), it.seq(), it.kind(), it.value(), options, '');
        shown++;
      }
    } catch (err) {
      out.error(`stratadb dump: ${reasonOf(err)}`);
      return 1;
    } finally {
      it.close();
    }
    if (shown < p.entries) out.text(`… ${shown} of ${p.entries} entries shown (--limit ${options.limit})`);
    return 0;
  } finally {
    reader.close();
  }
}

function emitEntry(out: Output, key: Uint8Array, seq: SeqNum, kind: number, value: Uint8Array, options: DumpOptions, indent: string): void {
  if (kind === ValueKind.RangeDelete) {
    emitRangeDelete(out, key, value.length === 0 ? undefined : value, seq, indent);
    return;
  }
  if (kind === ValueKind.PutWithExpiry) {
    const expiry = new Date(expiresAt(value)).toISOString();
    const user = value.subarray(EXPIRY_BYTES);
    out.emit(
      { type: 'entry', key: bytesJson(key), seq, kind: 'put', value: bytesJson(user, options.maxValueBytes), expiresAt: expiresAt(value) },
      `${indent}${bytesText(key)} @${seq} PUT ${bytesText(user, options.maxValueBytes)} (expires ${expiry})`,
    );
    return;
  }
  const put = kind !== ValueKind.Delete;
  const name = kind === ValueKind.Merge ? 'merge' : put ? 'put' : 'delete';
  out.emit(
    { type: 'entry', key: bytesJson(key), seq, kind: name, ...(put ? { value: bytesJson(value, options.maxValueBytes) } : {}) },
    `${indent}${bytesText(key)} @${seq} ${put ? `${name.toUpperCase()} ${bytesText(value, options.maxValueBytes)}` : 'DEL'}`,
  );
}

/** A range tombstone: the keys [start, end) (no end: every key from start on). */
function emitRangeDelete(out: Output, start: Uint8Array, end: Uint8Array | undefined, seq: SeqNum, indent: string): void {
  out.emit(
    { type: 'entry', key: bytesJson(start), seq, kind: 'clear', end: end === undefined ? null : bytesJson(end) },
    `${indent}[${bytesText(start)}, ${end === undefined ? '(no end)' : bytesText(end)}) @${seq} CLEAR`,
  );
}

// --- logs: WALs and MANIFESTs ----------------------------------------------------------------

/** Dumps a log; `kind` undefined is a log whose name says nothing and that holds no record. */
export async function dumpLog(fs: FileSystem, file: string, kind: 'wal' | 'manifest' | undefined, options: DumpOptions, out: Output, read?: LogRead): Promise<number> {
  let log: LogRead;
  try {
    log = read ?? (await readSalvaging(fs, file));
  } catch (err) {
    out.error(`stratadb dump: ${reasonOf(err)}`);
    return 1;
  }
  const { contents, damage } = log;
  let status = damage.length > 0 ? 1 : 0;
  out.emit(
    { type: 'log', file, kind: kind ?? null, fileBytes: contents.fileBytes, records: contents.records.length },
    `${file}: ${kind === 'wal' ? 'WAL' : kind === 'manifest' ? 'MANIFEST' : 'log file'}, ${sizeText(contents.fileBytes)}, ` +
      count(contents.records.length, 'intact record', 'intact records'),
  );
  // Records and damaged regions in file order.
  let d = 0;
  const emitDamageBefore = (offset: number) => {
    for (; d < damage.length && damage[d]!.offset < offset; d++) emitDamage(out, damage[d]!);
  };
  let shown = 0;
  for (const record of contents.records) {
    if (shown >= options.limit) break;
    emitDamageBefore(record.offset);
    try {
      if (kind === 'wal') {
        const b = decodeWalRecord(file, record);
        emitBatch(out, b.offset, b.firstSeq, b.entries, options, b.twoPhase);
      } else {
        emitEdit(out, record.offset, decodeManifestRecord(file, record));
      }
    } catch (err) {
      if (!(err instanceof StrataError)) throw err;
      emitDamage(out, { offset: record.offset, bytes: record.payload.length, reason: reasonOf(err) });
      status = 1;
    }
    shown++;
  }
  if (shown < contents.records.length) {
    out.text(`… ${shown} of ${contents.records.length} records shown (--limit ${options.limit})`);
  } else {
    emitDamageBefore(Infinity);
    if (contents.tornTailAt !== undefined) {
      const bytes = contents.fileBytes - contents.tornTailAt;
      out.emit({ type: 'torn-tail', offset: contents.tornTailAt, bytes }, `@${contents.tornTailAt} torn tail, ${bytes} bytes: a record cut off by a crash (never acknowledged)`);
    }
  }
  return status;
}

export interface LogRead {
  contents: LogContents;
  damage: LogDamage[];
}

export async function readSalvaging(fs: FileSystem, file: string): Promise<LogRead> {
  const damage: LogDamage[] = [];
  const contents = await readLogRecords(fs, file, 'salvage', (d) => damage.push(d));
  return { contents, damage };
}

function emitDamage(out: Output, d: LogDamage): void {
  out.emit({ type: 'damage', offset: d.offset, bytes: d.bytes, reason: d.reason }, `@${d.offset} DAMAGED, ${d.bytes} bytes skipped: ${d.reason}`);
}

function emitBatch(out: Output, offset: number, firstSeq: SeqNum, entries: readonly BatchEntry[], options: DumpOptions, twoPhase?: WalBatch['twoPhase']): void {
  if (twoPhase?.record === 'commit') {
    out.emit({ type: 'commit', offset, txn: twoPhase.txn }, `@${offset} commit of batch ${twoPhase.txn} (across shards)`);
    return;
  }
  const type = twoPhase ? 'prepare' : 'batch';
  if (out.json) {
    out.emit({
      type, offset, firstSeq, count: entries.length, ...(twoPhase ? { txn: twoPhase.txn } : {}),
      entries: entries.map((e, i) =>
        e.kind === ValueKind.RangeDelete
          ? { seq: firstSeq + i, kind: 'clear', key: bytesJson(e.key), end: e.value.length === 0 ? null : bytesJson(e.value) }
          : e.kind === ValueKind.PutWithExpiry
          ? { seq: firstSeq + i, kind: 'put', key: bytesJson(e.key), value: bytesJson(e.value.subarray(EXPIRY_BYTES), options.maxValueBytes), expiresAt: expiresAt(e.value) }
          : {
              seq: firstSeq + i, kind: e.kind === ValueKind.Merge ? 'merge' : e.kind === ValueKind.Put ? 'put' : 'delete', key: bytesJson(e.key),
              ...(e.kind !== ValueKind.Delete ? { value: bytesJson(e.value, options.maxValueBytes) } : {}),
            },
      ),
    }, '');
    return;
  }
  const what = twoPhase ? `prepare of batch ${twoPhase.txn} (across shards), part at` : 'batch';
  out.text(`@${offset} ${what} firstSeq ${firstSeq}, ${count(entries.length, 'entry', 'entries')}`);
  entries.forEach((e, i) => emitEntry(out, e.key, firstSeq + i, e.kind, e.value, options, '  '));
}

function emitEdit(out: Output, offset: number, edit: VersionEdit): void {
  const counters = [
    edit.logNumber === undefined ? '' : `log number ${edit.logNumber}`,
    edit.nextFileNumber === undefined ? '' : `next file number ${edit.nextFileNumber}`,
    edit.lastSequence === undefined ? '' : `last sequence ${edit.lastSequence}`,
  ].filter((s) => s !== '');
  const added = edit.added ?? [];
  const removed = edit.removed ?? [];
  out.emit(
    {
      type: 'edit', offset, logNumber: edit.logNumber ?? null, nextFileNumber: edit.nextFileNumber ?? null, lastSequence: edit.lastSequence ?? null,
      added: added.map(({ level, table }) => ({ level, ...tableMetaJson(table) })),
      removed: removed.map(({ level, fileNumber }) => ({ level, fileNumber })),
    },
    [
      `@${offset} edit${counters.length > 0 ? `: ${counters.join(', ')}` : ''}`,
      ...removed.map(({ level, fileNumber }) => `  remove level ${level} ${tableName(fileNumber)}`),
      ...added.map(({ level, table }) => `  add    level ${level} ${tableMetaText(table)}`),
    ],
  );
}
