// stratadb verify <dir>: every checksum of every live file, and the MANIFEST against the files.
//
// Read-only: it never calls open() (which writes a new MANIFEST and flushes the WALs) and
// never takes the LOCK, so it can run beside a process that has the database open; files that
// process creates or deletes meanwhile can show up as orphans or missing.
//
// Checks, in order:
// 1. CURRENT names a MANIFEST, and every edit of it decodes (VersionSet.recover); a torn last
//    edit is a note (it was never acknowledged, and open drops it too).
// 2. The version: no file number twice, no overlap between the files of a level below 0.
// 3. Each table the version names: it exists, has the recorded size, opens (footer, index,
//    filter and properties checksums), its properties match the MANIFEST's record, and a scan
//    reads every data block (checksums) and finds its entries in internal order, inside the
//    recorded key and sequence ranges, each one in the bloom filter, with the recorded counts.
// 4. Each WAL at or above the log number (the one it names must exist): every record intact
//    ('strict'), the newest allowed a torn tail ('tolerate-tail', a note), every batch
//    decodes, and sequence numbers rise from batch to batch and from WAL to WAL.
// 5. Every other file is a note: tables no version names (an unfinished flush or compaction),
//    WALs below the log number, older MANIFESTs, temp files, names stratadb never writes.
//
// Exit code: 0 when every check passed (notes allowed), 1 when one failed.

import * as path from 'node:path';
import {
  bytesEqual,
  compareBytes,
  compareInternal,
  tombstoneUpperKey,
  ValueKind,
  walFileName,
  type FileSystem,
  type SeqNum,
} from '../base/index.js';
import { VersionSet, type TableMeta } from '../manifest/index.js';
import { TableReader } from '../sstable/index.js';
import {
  decodeManifestRecord,
  decodeWalRecord,
  liveWalNumbers,
  listDir,
  manifestName,
  readLogRecords,
  requireDatabase,
  tableName,
  walName,
  type DirEntry,
} from './db-files.js';
import { bytesText, count, reasonOf, sizeText, type Output } from './output.js';

type Status = 'ok' | 'error' | 'note';

/** A failed check that is not a StrataError from an owner (those name file@offset themselves). */
class CheckFailed extends Error {}

class Report {
  readonly #out: Output;
  readonly #checked = new Set<string>();
  ok = 0;
  errors = 0;
  notes = 0;

  constructor(out: Output) {
    this.#out = out;
  }

  line(status: Status, file: string, detail: string): void {
    if (status !== 'note') this.#checked.add(file);
    if (status === 'ok') this.ok++;
    else if (status === 'error') this.errors++;
    else this.notes++;
    const label = status === 'ok' ? 'OK   ' : status === 'error' ? 'ERROR' : 'NOTE ';
    this.#out.emit({ type: 'check', file, status, detail }, `${label}  ${file}: ${detail}`);
  }

  get checked(): number {
    return this.#checked.size;
  }
}

const MAX_KEY_SHOWN = 64;
const keyText = (key: Uint8Array) => bytesText(key, MAX_KEY_SHOWN);

export async function verify(fs: FileSystem, dir: string, out: Output): Promise<number> {
  const entries = await listDir(fs, dir);
  requireDatabase(dir, entries);
  const report = new Report(out);
  const finish = (unchecked?: string) => {
    const result = report.errors === 0 ? 'ok' : 'corrupt';
    const text =
      `verify ${dir}: ${count(report.checked, 'file', 'files')} checked, ${report.ok} OK, ` +
      `${count(report.errors, 'error', 'errors')}, ${count(report.notes, 'note', 'notes')}` +
      (unchecked ? ` (${unchecked})` : '') +
      (result === 'ok' ? ': OK' : ': CORRUPT');
    out.emit({ type: 'summary', dir, checked: report.checked, ok: report.ok, errors: report.errors, notes: report.notes, result, ...(unchecked ? { unchecked } : {}) }, text);
    return result === 'ok' ? 0 : 1;
  };

  if (!entries.some((e) => e.kind === 'current')) {
    const witness = entries.find((e) => e.kind === 'manifest' || e.kind === 'table' || e.kind === 'wal')!;
    report.line('error', 'CURRENT', `missing, yet ${witness.name} exists`);
    return finish('nothing else checked without CURRENT');
  }
  let versions: VersionSet;
  try {
    versions = await VersionSet.recover(fs, dir);
  } catch (err) {
    report.line('error', 'MANIFEST', reasonOf(err));
    return finish('tables and WALs not checked without a readable MANIFEST');
  }
  const manifest = manifestName(versions.manifestNumber);
  report.line('ok', 'CURRENT', `names ${manifest}`);
  await checkManifest(fs, dir, versions, manifest, report);
  checkVersionShape(versions, manifest, report);

  const present = new Set(entries.map((e) => e.name));
  const named = new Set<string>();
  for (const { level, table } of versions.current.allFiles()) {
    const name = tableName(table.fileNumber);
    named.add(name);
    if (!present.has(name)) {
      report.line('error', name, `missing (named by ${manifest} at level ${level})`);
      continue;
    }
    try {
      report.line('ok', name, checkTable(fs, path.join(dir, name), level, table));
    } catch (err) {
      report.line('error', name, reasonOf(err));
    }
  }

  await checkWals(fs, dir, entries, versions.logNumber, report);
  for (const e of entries) noteOther(e, named, versions, report);
  return finish();
}

async function checkManifest(fs: FileSystem, dir: string, versions: VersionSet, manifest: string, report: Report): Promise<void> {
  const file = path.join(dir, manifest);
  try {
    // recover() read it the same way and succeeded; read again for what it does not return.
    const { records, tornTailAt, fileBytes } = await readLogRecords(fs, file, 'tolerate-tail');
    for (const r of records) decodeManifestRecord(file, r);
    const tables = [...versions.current.allFiles()].length;
    report.line('ok', manifest, `${count(records.length, 'edit', 'edits')}, ${count(tables, 'table', 'tables')}, log number ${versions.logNumber}, last sequence ${versions.lastSequence}`);
    if (tornTailAt !== undefined) {
      report.line('note', manifest, `torn last edit at offset ${tornTailAt} (${fileBytes - tornTailAt} bytes) ignored: it was never acknowledged`);
    }
  } catch (err) {
    report.line('error', manifest, reasonOf(err));
  }
}

/** A file named twice, or files of one level below 0 whose key ranges overlap. */
function checkVersionShape(versions: VersionSet, manifest: string, report: Report): void {
  const levelOf = new Map<number, number>();
  for (const { level, table } of versions.current.allFiles()) {
    const earlier = levelOf.get(table.fileNumber);
    if (earlier !== undefined) report.line('error', manifest, `table ${table.fileNumber} is named twice (levels ${earlier} and ${level})`);
    levelOf.set(table.fileNumber, level);
  }
  versions.current.levels.forEach((files, level) => {
    if (level === 0) return;
    for (let i = 1; i < files.length; i++) {
      const a = files[i - 1]!;
      const b = files[i]!;
      if (compareBytes(a.largestKey, b.smallestKey) >= 0) {
        report.line('error', manifest, `level ${level}: table ${a.fileNumber} [${keyText(a.smallestKey)} .. ${keyText(a.largestKey)}] overlaps table ${b.fileNumber} [${keyText(b.smallestKey)} .. ${keyText(b.largestKey)}]`);
      }
    }
  });
}

/** Checks the table `file` against `meta`; returns the OK line's detail, throws on a failure. */
function checkTable(fs: FileSystem, file: string, level: number, meta: TableMeta): string {
  // The size first: a table cut short or grown reads as a damaged footer, which says less.
  const handle = fs.openReadable(file);
  let reader: TableReader;
  try {
    if (handle.size !== meta.fileSize) throw new CheckFailed(`${file}: ${handle.size} bytes, the MANIFEST records ${meta.fileSize}`);
    reader = TableReader.open(handle, meta.fileNumber, undefined);
  } catch (err) {
    handle.close();
    throw err;
  }
  try {
    const p = reader.properties;
    const disagree = (what: string, inFile: string | number, recorded: string | number) =>
      new CheckFailed(`${file}: properties block says ${what} ${inFile}, the MANIFEST records ${recorded}`);
    if (p.entries !== meta.entries) throw disagree('entries', p.entries, meta.entries);
    if (p.rangeDeletions !== meta.rangeDeletions) throw disagree('range deletions', p.rangeDeletions, meta.rangeDeletions);
    if (p.deletions !== meta.deletions) throw disagree('deletions', p.deletions, meta.deletions);
    if (p.smallestSeq !== meta.smallestSeq) throw disagree('smallest sequence', p.smallestSeq, meta.smallestSeq);
    if (p.largestSeq !== meta.largestSeq) throw disagree('largest sequence', p.largestSeq, meta.largestSeq);
    if (!bytesEqual(p.smallestKey, meta.smallestKey)) throw disagree('smallest key', keyText(p.smallestKey), keyText(meta.smallestKey));
    if (!bytesEqual(p.largestKey, meta.largestKey)) throw disagree('largest key', keyText(p.largestKey), keyText(meta.largestKey));
    scanTable(reader, file, meta);
    return `level ${level}, ${count(meta.entries, 'entry', 'entries')} (${meta.deletions} deleted), seqs ${meta.smallestSeq}..${meta.largestSeq}, ${p.dataBlocks} data ${p.dataBlocks === 1 ? 'block' : 'blocks'}, ${sizeText(meta.fileSize)}`;
  } finally {
    reader.close();
  }
}

/**
 * Reads every entry (every data block's checksum is checked on the way) and checks each, and
 * the range tombstones: together they must span the recorded key and sequence ranges.
 */
function scanTable(reader: TableReader, file: string, meta: TableMeta): void {
  const it = reader.iterator();
  try {
    let n = 0;
    let deletions = 0;
    let minSeq = Infinity;
    let maxSeq = -Infinity;
    // The key range the tombstones span (tombstoneUpperKey), merged with the entries' below.
    let smallest: Uint8Array | undefined;
    let largest: Uint8Array | undefined;
    for (const t of reader.rangeTombstones) {
      if (t.seq < meta.smallestSeq || t.seq > meta.largestSeq) throw new CheckFailed(`${file}: a range tombstone @${t.seq} is outside the recorded sequence range ${meta.smallestSeq}..${meta.largestSeq}`);
      if (smallest === undefined || compareBytes(t.start, smallest) < 0) smallest = t.start;
      const upper = tombstoneUpperKey(t);
      if (largest === undefined || compareBytes(upper, largest) > 0) largest = upper;
      if (t.seq < minSeq) minSeq = t.seq;
      if (t.seq > maxSeq) maxSeq = t.seq;
    }
    let firstKey: Uint8Array | undefined;
    let prevKey: Buffer | undefined;
    let prevSeq: SeqNum = 0;
    for (it.seekToFirst(); it.valid(); it.next()) {
      const key = it.key();
      const seq = it.seq();
      const at = `entry ${n} (${keyText(key)} @${seq})`;
      if (prevKey === undefined) {
        firstKey = Buffer.from(key);
      } else if (compareInternal(prevKey, prevSeq, key, seq) >= 0) {
        throw new CheckFailed(`${file}: ${at} does not sort after the entry before it (${keyText(prevKey)} @${prevSeq})`);
      }
      if (seq < meta.smallestSeq || seq > meta.largestSeq) throw new CheckFailed(`${file}: ${at} is outside the recorded sequence range ${meta.smallestSeq}..${meta.largestSeq}`);
      if (!reader.mayContain(key)) throw new CheckFailed(`${file}: ${at} is missing from the bloom filter`);
      if (it.kind() === ValueKind.Delete) deletions++;
      if (seq < minSeq) minSeq = seq;
      if (seq > maxSeq) maxSeq = seq;
      prevKey = Buffer.from(key);
      prevSeq = seq;
      n++;
    }
    if (prevKey === undefined && reader.rangeTombstones.length === 0) throw new CheckFailed(`${file}: no entries, the MANIFEST records ${meta.entries}`);
    if (firstKey !== undefined && (smallest === undefined || compareBytes(firstKey, smallest) < 0)) smallest = firstKey;
    if (prevKey !== undefined && (largest === undefined || compareBytes(prevKey, largest) > 0)) largest = prevKey;
    if (!bytesEqual(smallest!, meta.smallestKey)) throw new CheckFailed(`${file}: first key ${keyText(smallest!)} is not the recorded smallest key ${keyText(meta.smallestKey)}`);
    if (!bytesEqual(largest!, meta.largestKey)) throw new CheckFailed(`${file}: last key ${keyText(largest!)} is not the recorded largest key ${keyText(meta.largestKey)}`);
    if (n !== meta.entries || deletions !== meta.deletions) {
      throw new CheckFailed(`${file}: holds ${n} entries (${deletions} deletions), the MANIFEST records ${meta.entries} (${meta.deletions})`);
    }
    if (minSeq !== meta.smallestSeq || maxSeq !== meta.largestSeq) {
      throw new CheckFailed(`${file}: sequence numbers span ${minSeq}..${maxSeq}, the MANIFEST records ${meta.smallestSeq}..${meta.largestSeq}`);
    }
  } finally {
    it.close();
  }
}

async function checkWals(fs: FileSystem, dir: string, entries: readonly DirEntry[], logNumber: number, report: Report): Promise<void> {
  const numbers = liveWalNumbers(entries, logNumber);
  if (!numbers.includes(logNumber)) {
    report.line('error', walName(logNumber), 'missing (the MANIFEST\'s log number names it: the writes since the last flush were in it)');
  }
  let lastSeq: SeqNum | undefined;
  for (let i = 0; i < numbers.length; i++) {
    const file = walFileName(dir, numbers[i]!);
    const name = path.basename(file);
    const newest = i === numbers.length - 1;
    try {
      const { records, tornTailAt, fileBytes } = await readLogRecords(fs, file, newest ? 'tolerate-tail' : 'strict');
      let entryCount = 0;
      let firstSeq: SeqNum | undefined;
      for (const record of records) {
        const batch = decodeWalRecord(file, record);
        if (batch.entries.length === 0) continue;
        if (lastSeq !== undefined && batch.firstSeq <= lastSeq) {
          throw new CheckFailed(`${file}@${record.offset}: batch starts at sequence ${batch.firstSeq}, not after ${lastSeq}, the last sequence before it`);
        }
        firstSeq ??= batch.firstSeq;
        lastSeq = batch.firstSeq + batch.entries.length - 1;
        entryCount += batch.entries.length;
      }
      const seqs = firstSeq === undefined ? '' : `, seqs ${firstSeq}..${lastSeq}`;
      report.line('ok', name, `${count(records.length, 'record', 'records')}, ${count(entryCount, 'entry', 'entries')}${seqs}, ${sizeText(fileBytes)}`);
      if (tornTailAt !== undefined) {
        report.line('note', name, `torn tail at offset ${tornTailAt} (${fileBytes - tornTailAt} bytes) dropped: a write cut off by a crash, never acknowledged`);
      }
    } catch (err) {
      report.line('error', name, reasonOf(err));
    }
  }
}

function noteOther(e: DirEntry, named: ReadonlySet<string>, versions: VersionSet, report: Report): void {
  switch (e.kind) {
    case 'table':
      if (!named.has(e.name)) report.line('note', e.name, 'orphan: no version names it (left by an unfinished flush or compaction; the next open deletes it)');
      break;
    case 'wal':
      if (e.number < versions.logNumber) report.line('note', e.name, `released: below the log number ${versions.logNumber}, its writes are in tables (kept for the change feed within changeRetention, or deleted by the next open)`);
      break;
    case 'manifest':
      if (e.number !== versions.manifestNumber) report.line('note', e.name, 'obsolete: CURRENT names another MANIFEST (the next open deletes it)');
      break;
    case 'temp':
      report.line('note', e.name, 'temporary file (the next open deletes it)');
      break;
    case undefined:
      // The database's own files beside the engine's: its identity (src/identity.ts) and the
      // replication positions (src/replication/positions.ts).
      if (e.name === 'IDENTITY' || e.name.startsWith('REPLICATION-')) break;
      report.line('note', e.name, 'not a stratadb file; ignored');
      break;
    case 'current':
    case 'lock':
      break;
  }
}
