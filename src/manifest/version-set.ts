// VersionSet: the live version, the counters that must survive a restart, and the MANIFEST
// that records them.
//
// Invariants:
// 1. The MANIFEST edit is the commit point of a flush or compaction: a table is part of the
//    database once (and only once) the edit naming it is durable (fdatasync of the MANIFEST).
// 2. The main thread is the MANIFEST's only writer; edits are applied one at a time, in the
//    order logAndApply() was called.
// 3. CURRENT names the live MANIFEST and is only ever replaced whole: write a temp file,
//    fsync it, rename it over CURRENT, fsync the directory.
// 4. A file number is handed out once: nextFileNumber in every edit is above every number
//    used so far, WALs included.

import * as path from 'node:path';
import {
  corruption,
  currentFileName,
  invariant,
  manifestFileName,
  StrataError,
  tempFileName,
  utf8,
  type FileSystem,
  type SeqNum,
} from '../base/index.js';
import { LogWriter, readLogFile, RecordType } from '../wal/index.js';
import { decodeEdit, encodeEdit, type TableMeta, type VersionEdit } from './version-edit.js';
import { Version } from './version.js';

export class VersionSet {
  readonly #fs: FileSystem;
  readonly #dir: string;
  #current: Version;
  #manifest: LogWriter | undefined;
  #manifestNumber = 0;
  #nextFileNumber: number;
  #logNumber: number;
  /** The log number the current MANIFEST's first edit names (startManifest's); 0 for none. */
  #firstLogNumber = 0;
  #lastSequence: SeqNum;
  /** The merge operator's name once an edit recorded one (version-edit.ts, MergeOperator). */
  #mergeOperator: string | undefined;
  #pending: Promise<void> = Promise.resolve();
  /** Versions still referenced by a reader, the current one included. */
  readonly #live = new Set<Version>();
  #onObsolete: (() => void) | undefined;
  #onReadCompactionDue: (() => void) | undefined;

  private constructor(fs: FileSystem, dir: string, current: Version, nextFileNumber: number, logNumber: number, lastSequence: SeqNum) {
    this.#fs = fs;
    this.#dir = dir;
    this.#current = new Version(current.levels, (v) => this.#release(v));
    this.#nextFileNumber = nextFileNumber;
    this.#logNumber = logNumber;
    this.#lastSequence = lastSequence;
    this.#install(this.#current);
  }

  /** The state of a database that has no CURRENT yet: nothing written. */
  static empty(fs: FileSystem, dir: string): VersionSet {
    return new VersionSet(fs, dir, Version.empty(), 1, 0, 0);
  }

  /** Reads CURRENT and replays the MANIFEST it names. Nothing is written. */
  static async recover(fs: FileSystem, dir: string): Promise<VersionSet> {
    const currentPath = currentFileName(dir);
    const text = Buffer.from(await fs.readFile(currentPath)).toString('latin1');
    const m = /^(MANIFEST-(\d+))\n$/.exec(text);
    if (!m) throw corruption(currentPath, 0, 'CURRENT does not name a MANIFEST');
    const manifestPath = path.join(dir, m[1]!);
    if (!(await fs.exists(manifestPath))) throw corruption(currentPath, 0, `CURRENT names ${m[1]}, which does not exist`);
    const { records } = await readLogFile(fs, manifestPath, { mode: 'tolerate-tail' });
    let version = Version.empty();
    let nextFileNumber: number | undefined;
    let logNumber: number | undefined;
    let firstLogNumber = 0;
    let lastSequence: number | undefined;
    let mergeOperator: string | undefined;
    for (const record of records) {
      if (record.type !== RecordType.ManifestEdit) throw corruption(manifestPath, record.offset, `record type ${record.type} in a MANIFEST`);
      let edit: VersionEdit;
      try {
        edit = decodeEdit(record.payload);
      } catch (err) {
        if (err instanceof StrataError && err.code === 'CORRUPTION') throw corruption(manifestPath, record.offset, err.message);
        throw err;
      }
      version = version.apply(edit);
      nextFileNumber = edit.nextFileNumber ?? nextFileNumber;
      if (logNumber === undefined) firstLogNumber = edit.logNumber ?? 0;
      logNumber = edit.logNumber ?? logNumber;
      lastSequence = edit.lastSequence ?? lastSequence;
      mergeOperator = edit.mergeOperator ?? mergeOperator;
    }
    if (nextFileNumber === undefined || logNumber === undefined || lastSequence === undefined) {
      throw corruption(manifestPath, 0, 'MANIFEST lacks next file number, log number or last sequence');
    }
    const set = new VersionSet(fs, dir, version, nextFileNumber, logNumber, lastSequence);
    set.#manifestNumber = Number(m[2]);
    set.#firstLogNumber = firstLogNumber;
    set.#mergeOperator = mergeOperator;
    // Belt and braces for invariant 4: no number a version or CURRENT names is handed out again.
    set.markFileNumberUsed(set.#manifestNumber);
    set.markFileNumberUsed(logNumber);
    for (const { table } of version.allFiles()) set.markFileNumberUsed(table.fileNumber);
    return set;
  }

  get current(): Version {
    return this.#current;
  }

  get logNumber(): number {
    return this.#logNumber;
  }

  /**
   * The log number the first edit of the MANIFEST recovered names: the log that the open which
   * started it (startManifest) created. 0 for a new database.
   */
  get firstLogNumber(): number {
    return this.#firstLogNumber;
  }

  get lastSequence(): SeqNum {
    return this.#lastSequence;
  }

  /** The merge operator's name recorded in the MANIFEST, if any. */
  get mergeOperator(): string | undefined {
    return this.#mergeOperator;
  }

  get manifestNumber(): number {
    return this.#manifestNumber;
  }

  newFileNumber(): number {
    return this.#nextFileNumber++;
  }

  /** Makes sure `n` is never handed out (a file found on disk that no edit names). */
  markFileNumberUsed(n: number): void {
    if (n >= this.#nextFileNumber) this.#nextFileNumber = n + 1;
  }

  /** Called whenever a version stops being live, so the owner can delete files no version names. */
  onObsoleteFiles(callback: () => void): void {
    this.#onObsolete = callback;
  }

  /** Called when reads of a live version reach its level-0 read budget (Version.readCompactionDue). */
  onReadCompactionDue(callback: () => void): void {
    this.#onReadCompactionDue = callback;
  }

  /** File numbers named by any live version: the files that must not be deleted. */
  liveFileNumbers(): Set<number> {
    const live = new Set<number>();
    for (const v of this.#live) for (const { table } of v.allFiles()) live.add(table.fileNumber);
    return live;
  }

  /**
   * Starts a new MANIFEST holding the whole current state plus `edit`, and points CURRENT at
   * it. Used at every open, so a MANIFEST never grows without bound across restarts.
   */
  async startManifest(edit: VersionEdit): Promise<void> {
    await this.#serialize(async () => {
      const number = this.newFileNumber();
      const next = this.#current.apply(edit, (v) => this.#release(v));
      this.#absorbCounters(edit);
      const snapshot: VersionEdit = {
        logNumber: this.#logNumber,
        nextFileNumber: this.#nextFileNumber,
        lastSequence: this.#lastSequence,
        ...(this.#mergeOperator === undefined ? {} : { mergeOperator: this.#mergeOperator }),
        added: [...next.allFiles()],
      };
      const file = manifestFileName(this.#dir, number);
      const writer = await LogWriter.create(this.#fs, file);
      try {
        await writer.addRecords(RecordType.ManifestEdit, [encodeEdit(snapshot)], true);
        await this.#fs.syncDir(this.#dir);
        await this.#setCurrent(number);
      } catch (err) {
        await writer.close().catch(() => {});
        throw err;
      }
      await this.#manifest?.close();
      this.#manifest = writer;
      this.#manifestNumber = number;
      this.#replaceCurrent(next);
    });
  }

  /**
   * Records `edit` durably in the MANIFEST, then makes the version it describes current.
   * nextFileNumber and lastSequence are filled in. If the write fails the edit did not
   * happen, and the MANIFEST takes no further edits (its writer has failed).
   */
  logAndApply(edit: VersionEdit): Promise<void> {
    return this.#serialize(async () => {
      invariant(this.#manifest !== undefined, 'logAndApply before startManifest');
      if (edit.lastSequence !== undefined) invariant(edit.lastSequence >= this.#lastSequence, 'last sequence never goes back');
      const full: VersionEdit = { ...edit, nextFileNumber: this.#nextFileNumber, lastSequence: edit.lastSequence ?? this.#lastSequence };
      await this.#manifest.addRecords(RecordType.ManifestEdit, [encodeEdit(full)], true);
      this.#absorbCounters(full);
      this.#replaceCurrent(this.#current.apply(edit, (v) => this.#release(v)));
    });
  }

  async close(): Promise<void> {
    await this.#pending.catch(() => {});
    await this.#manifest?.close();
    this.#manifest = undefined;
  }

  #absorbCounters(edit: VersionEdit): void {
    if (edit.logNumber !== undefined) this.#logNumber = Math.max(this.#logNumber, edit.logNumber);
    if (edit.lastSequence !== undefined) this.#lastSequence = Math.max(this.#lastSequence, edit.lastSequence);
    if (edit.nextFileNumber !== undefined) this.#nextFileNumber = Math.max(this.#nextFileNumber, edit.nextFileNumber);
    if (edit.mergeOperator !== undefined) this.#mergeOperator = edit.mergeOperator;
  }

  #install(v: Version): void {
    v.onReadCompactionDue = () => this.#onReadCompactionDue?.();
    v.ref();
    this.#live.add(v);
  }

  #replaceCurrent(next: Version): void {
    const old = this.#current;
    this.#current = next;
    this.#install(next);
    old.unref();
  }

  #release(v: Version): void {
    this.#live.delete(v);
    this.#onObsolete?.();
  }

  async #setCurrent(manifestNumber: number): Promise<void> {
    const temp = tempFileName(this.#dir, this.newFileNumber());
    const file = await this.#fs.createWritable(temp);
    try {
      await file.append(utf8(`MANIFEST-${String(manifestNumber).padStart(6, '0')}\n`));
      await file.sync();
    } finally {
      await file.close();
    }
    await this.#fs.rename(temp, currentFileName(this.#dir));
    await this.#fs.syncDir(this.#dir);
  }

  #serialize(step: () => Promise<void>): Promise<void> {
    const run = this.#pending.then(step);
    this.#pending = run.catch(() => {});
    return run;
  }
}

export type { TableMeta };
