// stratadb dump <dir|file>: what a database or one of its files holds, for people (text) or
// programs (--json, one object per line, each with a `type`).
//
// - a directory: the MANIFEST's counters, the live version level by level (each table's key
//   and sequence ranges, size and counts), and the WALs recovery would replay (record counts).
// - a table (.sst): its properties, then every entry (key, seq, kind, value).
// - a WAL (.log): every record (offset, batch firstSeq and count, entries).
// - a MANIFEST: every edit.
// - CURRENT: what it holds.
// A file is recognized by its name, else by its content (a log's header, a table's footer).
// Logs are read in salvage mode so that everything intact is shown; damaged regions are shown
// where they are, and make the exit code 1.

import * as nodeFs from 'node:fs';
import * as path from 'node:path';
import { parseFileName, StrataError, type FileSystem, type SeqNum } from '../base/index.js';
import {
  decodeManifestRecord,
  decodeWalRecord,
  liveWalNumbers,
  logKindOf,
  manifestName,
  openTable,
  readDatabase,
  readLogRecords,
  UsageError,
  walName,
} from './db-files.js';
import { dumpLog, dumpTable, readSalvaging, tableMetaJson, tableMetaText, type DumpOptions, type LogRead } from './dump-files.js';
import { count, reasonOf, sizeText, type Output } from './output.js';

export type { DumpOptions } from './dump-files.js';

export async function dump(fs: FileSystem, target: string, options: DumpOptions, out: Output): Promise<number> {
  let stat: nodeFs.Stats;
  try {
    stat = await nodeFs.promises.stat(target);
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    throw new UsageError(errno === 'ENOENT' ? `${target}: no such file or directory` : `cannot read ${target}: ${(err as Error).message}`);
  }
  if (stat.isDirectory()) return dumpDir(fs, target, out);
  if (!stat.isFile()) throw new UsageError(`${target} is neither a file nor a directory`);

  const name = path.basename(target);
  const parsed = parseFileName(name);
  if (parsed?.kind === 'table' || name.endsWith('.sst')) return dumpTable(fs, target, parsed?.number ?? 0, options, out);
  if (parsed?.kind === 'wal' || name.endsWith('.log')) return dumpLog(fs, target, 'wal', options, out);
  if (parsed?.kind === 'manifest' || name.startsWith('MANIFEST')) return dumpLog(fs, target, 'manifest', options, out);
  if (parsed?.kind === 'current') return dumpCurrent(fs, target, out);
  return dumpUnnamed(fs, target, options, out);
}

// --- a directory ---------------------------------------------------------------------------

async function dumpDir(fs: FileSystem, dir: string, out: Output): Promise<number> {
  const database = await readDatabase(fs, dir, 'dump', out);
  if (database === undefined) return 1;
  const { entries, versions } = database;
  let status = 0;
  const manifest = manifestName(versions.manifestNumber);
  const manifestFile = path.join(dir, manifest);
  // recover() does not return the next file number: fold it from the edits (the last one set).
  let edits = 0;
  let nextFileNumber: number | undefined;
  try {
    const { records } = await readLogRecords(fs, manifestFile, 'tolerate-tail');
    for (const r of records) nextFileNumber = decodeManifestRecord(manifestFile, r).nextFileNumber ?? nextFileNumber;
    edits = records.length;
  } catch (err) {
    out.error(`stratadb dump: ${reasonOf(err)}`);
    status = 1;
  }
  out.emit(
    { type: 'manifest', dir, file: manifest, edits, logNumber: versions.logNumber, nextFileNumber: nextFileNumber ?? null, lastSequence: versions.lastSequence },
    `${dir}: ${manifest} (${count(edits, 'edit', 'edits')}), log number ${versions.logNumber}, next file number ${nextFileNumber ?? '?'}, last sequence ${versions.lastSequence}`,
  );

  const levels = versions.current.levels;
  if (levels.every((files) => files.length === 0)) out.text('no tables');
  levels.forEach((files, level) => {
    if (files.length === 0) return;
    const bytes = files.reduce((n, f) => n + f.fileSize, 0);
    out.emit({ type: 'level', level, tables: files.length, bytes }, `level ${level}: ${count(files.length, 'table', 'tables')}, ${sizeText(bytes)}`);
    for (const t of files) out.emit({ type: 'table', level, ...tableMetaJson(t) }, `  ${tableMetaText(t)}`);
  });

  const walNumbers = liveWalNumbers(entries, versions.logNumber);
  for (const number of walNumbers) {
    const name = walName(number);
    const file = path.join(dir, name);
    const newest = number === walNumbers.at(-1);
    try {
      const contents = await readLogRecords(fs, file, newest ? 'tolerate-tail' : 'strict');
      let entryCount = 0;
      let firstSeq: SeqNum | undefined;
      let lastSeq: SeqNum | undefined;
      for (const r of contents.records) {
        const b = decodeWalRecord(file, r);
        if (b.entries.length === 0) continue;
        firstSeq ??= b.firstSeq;
        lastSeq = b.firstSeq + b.entries.length - 1;
        entryCount += b.entries.length;
      }
      const torn = contents.tornTailAt === undefined ? '' : `, torn tail at offset ${contents.tornTailAt}`;
      out.emit(
        { type: 'wal', file: name, bytes: contents.fileBytes, records: contents.records.length, entries: entryCount, firstSeq: firstSeq ?? null, lastSeq: lastSeq ?? null, tornTailAt: contents.tornTailAt ?? null },
        `wal ${name}: ${sizeText(contents.fileBytes)}, ${count(contents.records.length, 'record', 'records')}, ${count(entryCount, 'entry', 'entries')}` +
          (firstSeq === undefined ? '' : `, seqs ${firstSeq}..${lastSeq}`) + torn,
      );
    } catch (err) {
      out.error(`stratadb dump: ${reasonOf(err)}`);
      status = 1;
    }
  }
  return status;
}

// --- CURRENT, and files known by their content only -----------------------------------------

async function dumpCurrent(fs: FileSystem, file: string, out: Output): Promise<number> {
  const text = Buffer.from(await fs.readFile(file)).toString('latin1');
  out.emit({ type: 'current', file, content: text }, `${file}: ${JSON.stringify(text)}`);
  return 0;
}

/** A file whose name says nothing: a log if it reads as one, a table if it opens as one. */
async function dumpUnnamed(fs: FileSystem, file: string, options: DumpOptions, out: Output): Promise<number> {
  let log: LogRead | undefined;
  try {
    log = await readSalvaging(fs, file);
  } catch (err) {
    // Salvage throws only for the file header: a wrong magic means not a log, maybe a table.
    if (!(err instanceof StrataError) || err.code !== 'CORRUPTION') throw err;
  }
  // A log's header is intact unless the reader found a torn one (at offset 0).
  if (log !== undefined && log.contents.tornTailAt !== 0) {
    const first = log.contents.records[0];
    if (first === undefined) return dumpLog(fs, file, undefined, options, out, log);
    const kind = logKindOf(first.type);
    if (kind !== undefined) return dumpLog(fs, file, kind, options, out, log);
  }
  try {
    openTable(fs, file, 0).close();
  } catch (err) {
    throw new UsageError(`${file} is not a stratadb file (not a log, and as a table: ${reasonOf(err)})`);
  }
  return dumpTable(fs, file, 0, options, out);
}
