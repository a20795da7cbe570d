// stratadb stats <dir>: the shape of a database at rest. Per level: tables, bytes (as the
// MANIFEST records them), entries, deletions and raw key/value bytes (from each table's
// properties block); the WALs recovery would replay (bytes, records, entries); the sequence
// numbers. Read-only, like verify: no LOCK, no writes.
//
// A table that does not open, or a WAL that does not read, is reported on the error writer
// and makes the exit code 1; its counts then come from the MANIFEST's record (tables) or are
// left out (WALs).

import * as path from 'node:path';
import type { FileSystem, SeqNum } from '../base/index.js';
import { NUM_LEVELS } from '../manifest/index.js';
import { decodeWalRecord, liveWalNumbers, manifestName, openTable, readDatabase, readLogRecords, tableName, walName } from './db-files.js';
import { count, reasonOf, sizeText, type Output } from './output.js';

interface LevelStats {
  level: number;
  tables: number;
  bytes: number;
  entries: number;
  deletions: number;
  rawKeyBytes: number;
  rawValueBytes: number;
}

interface WalStats {
  files: number;
  bytes: number;
  records: number;
  entries: number;
  firstSeq: SeqNum | null;
  lastSeq: SeqNum | null;
}

export async function stats(fs: FileSystem, dir: string, out: Output): Promise<number> {
  const database = await readDatabase(fs, dir, 'stats', out);
  if (database === undefined) return 1;
  const { entries, versions } = database;
  let status = 0;
  const fail = (err: unknown) => {
    out.error(`stratadb stats: ${reasonOf(err)}`);
    status = 1;
  };

  const levels: LevelStats[] = [];
  for (let level = 0; level < NUM_LEVELS; level++) {
    const row: LevelStats = { level, tables: 0, bytes: 0, entries: 0, deletions: 0, rawKeyBytes: 0, rawValueBytes: 0 };
    for (const meta of versions.current.levels[level]!) {
      row.tables++;
      row.bytes += meta.fileSize;
      try {
        const reader = openTable(fs, path.join(dir, tableName(meta.fileNumber)), meta.fileNumber);
        const p = reader.properties;
        reader.close();
        row.entries += p.entries;
        row.deletions += p.deletions;
        row.rawKeyBytes += p.rawKeyBytes;
        row.rawValueBytes += p.rawValueBytes;
      } catch (err) {
        fail(err);
        row.entries += meta.entries;
        row.deletions += meta.deletions;
      }
    }
    levels.push(row);
  }
  const total: LevelStats = { level: -1, tables: 0, bytes: 0, entries: 0, deletions: 0, rawKeyBytes: 0, rawValueBytes: 0 };
  for (const row of levels) {
    for (const k of ['tables', 'bytes', 'entries', 'deletions', 'rawKeyBytes', 'rawValueBytes'] as const) total[k] += row[k];
  }

  const wal: WalStats = { files: 0, bytes: 0, records: 0, entries: 0, firstSeq: null, lastSeq: null };
  const walNumbers = liveWalNumbers(entries, versions.logNumber);
  for (const number of walNumbers) {
    const file = path.join(dir, walName(number));
    try {
      const contents = await readLogRecords(fs, file, number === walNumbers.at(-1) ? 'tolerate-tail' : 'strict');
      wal.files++;
      wal.bytes += contents.fileBytes;
      wal.records += contents.records.length;
      for (const r of contents.records) {
        const batch = decodeWalRecord(file, r);
        if (batch.entries.length === 0) continue;
        wal.entries += batch.entries.length;
        wal.firstSeq ??= batch.firstSeq;
        wal.lastSeq = Math.max(wal.lastSeq ?? 0, batch.firstSeq + batch.entries.length - 1);
      }
    } catch (err) {
      fail(err);
    }
  }

  const lastSequence = Math.max(versions.lastSequence, wal.lastSeq ?? 0);
  const deepest = levels.reduce((d, row) => (row.tables > 0 ? row.level : d), 0);
  const shownLevels = levels.slice(0, deepest + 1).map(({ level, tables, bytes, entries: n, deletions, rawKeyBytes, rawValueBytes }) => ({ level, tables, bytes, entries: n, deletions, rawKeyBytes, rawValueBytes }));
  const { level: _total, ...totals } = total;
  out.emit(
    {
      type: 'stats', dir, manifest: manifestName(versions.manifestNumber), logNumber: versions.logNumber,
      levels: shownLevels, total: totals, wal,
      sequence: { manifestLastSequence: versions.lastSequence, walLastSequence: wal.lastSeq, lastSequence },
    },
    [
      `${dir}: ${manifestName(versions.manifestNumber)}, log number ${versions.logNumber}`,
      ...levelTable(shownLevels, totals),
      `WALs: ${count(wal.files, 'file', 'files')}, ${sizeText(wal.bytes)}, ${count(wal.records, 'record', 'records')}, ${count(wal.entries, 'entry', 'entries')}` +
        (wal.firstSeq === null ? '' : `, seqs ${wal.firstSeq}..${wal.lastSeq}`),
      `sequence: last ${lastSequence} (MANIFEST ${versions.lastSequence}, WALs ${wal.lastSeq ?? 'none'})`,
    ],
  );
  return status;
}

function levelTable(rows: readonly LevelStats[], total: Omit<LevelStats, 'level'>): string[] {
  const header = ['level', 'tables', 'bytes', 'entries', 'deletions', 'key bytes', 'value bytes'];
  const cells = (label: string, r: Omit<LevelStats, 'level'>) => [label, String(r.tables), sizeText(r.bytes), String(r.entries), String(r.deletions), sizeText(r.rawKeyBytes), sizeText(r.rawValueBytes)];
  const table = [header, ...rows.map((r) => cells(String(r.level), r)), cells('total', total)];
  const widths = header.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  return table.map((row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
}
