// Backups: numbered, incremental copies of a database in a backup directory, restorable into
// a new directory (`db.backup()`, `restoreBackup()`, `stratadb backup` / `restore`). Owns the
// backup directory's layout:
//
//   <backupDir>/files/<sha256>     one copy of each distinct file of any backup (tables,
//                                  MANIFESTs, CURRENT, SHARDS), named by the SHA-256 of its
//                                  bytes: a table already there is not copied again
//   <backupDir>/BACKUP-<id>        one backup, id 1, 2, ... (decimal, no padding):
//     line 1  "stratadb-backup 1"               magic and format version
//     line 2  JSON {id, sequence, createdAt, files: [{path, sha256, size}]}
//             path: the file's place in the database, "/"-separated ("shard-0/000012.sst")
//     line 3  "sha256 " + the SHA-256 of line 2 (hex)
//
// A backup is a checkpoint (src/shard/checkpoint.ts) taken under the database's own directory
// (`.backup-<random>.tmp`, so tables are hard links there), each of its files hashed and
// copied into files/ unless present, files/ synced, then BACKUP-<id> written (temp file,
// fsync, rename, directory fsync) and the checkpoint removed. A crash leaves at most files no
// BACKUP names (removed by purgeOldBackups) and a checkpoint directory (removed by the next
// backup of that database). Restore checks every file's size and SHA-256 before it counts:
// a damaged backup is CORRUPTION naming the file; it writes under a temporary name beside the
// target and renames it into place, and never writes into a directory that holds anything.

import { createHash, randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { corruption, invalidArgument, loadChecksum, NodeFileSystem, removeTree, StrataError, utf8, type FileSystem } from './base/index.js';
import { readShardsFile, shardFolders } from './shard/index.js';
import { nextTurn } from './base/loop-turns.js';

export const BACKUP_FORMAT_VERSION = 1;
const MAGIC_LINE = `stratadb-backup ${BACKUP_FORMAT_VERSION}`;
const CHUNK_BYTES = 1 << 20;

export interface BackupFile {
  /** Where the file goes in the database directory, "/"-separated. */
  path: string;
  sha256: string;
  size: number;
}

export interface BackupInfo {
  id: number;
  /** The sequence number the backup is at: every write that resolved to it or less. */
  sequence: bigint;
  /** When it was taken (ISO 8601). */
  createdAt: string;
  files: BackupFile[];
  /** Bytes of all its files. */
  bytes: number;
}

export interface BackupResult extends BackupInfo {
  /** Bytes this backup copied: the files no earlier backup held. */
  bytesCopied: number;
}

const backupFileName = (dir: string, id: number) => path.join(dir, `BACKUP-${id}`);
const contentFileName = (dir: string, sha256: string) => path.join(dir, 'files', sha256);

/**
 * Backs up the database at `dbDir` into `backupDir`, taking the checkpoint with `checkpoint`
 * (Database.checkpoint). Resolves to the new backup.
 */
export async function createBackup(fs: FileSystem, dbDir: string, backupDir: string, checkpoint: (dir: string) => Promise<bigint>): Promise<BackupResult> {
  await fs.mkdir(path.join(backupDir, 'files'));
  // Checkpoints left by backups cut short keep old tables alive through their links.
  for (const name of await fs.readdir(dbDir)) {
    if (/^\.backup-[0-9a-f]+\.tmp(\.checkpoint-[0-9a-f]+\.tmp)?$/.test(name)) await removeTree(fs, path.join(dbDir, name));
  }
  const temp = path.join(dbDir, `.backup-${randomBytes(6).toString('hex')}.tmp`);
  const sequence = await checkpoint(temp);
  try {
    const files: BackupFile[] = [];
    let bytesCopied = 0;
    for (const rel of await databaseFiles(fs, temp)) {
      const from = path.join(temp, ...rel.split('/'));
      const { sha256, size } = await hashFile(fs, from);
      const to = contentFileName(backupDir, sha256);
      if (!(await fs.exists(to))) {
        const part = `${to}.${randomBytes(4).toString('hex')}.tmp`;
        await copyAndSync(fs, from, part);
        await fs.rename(part, to);
        bytesCopied += size;
      }
      files.push({ path: rel, sha256, size });
    }
    await fs.syncDir(path.join(backupDir, 'files'));
    const ids = await backupIds(fs, backupDir);
    const id = (ids.length === 0 ? 0 : ids[ids.length - 1]!) + 1;
    const info: BackupInfo = { id, sequence, createdAt: new Date().toISOString(), files, bytes: files.reduce((n, f) => n + f.size, 0) };
    const metaPath = backupFileName(backupDir, id);
    await writeDurably(fs, `${metaPath}.tmp`, utf8(encodeBackupInfo(info)));
    await fs.rename(`${metaPath}.tmp`, metaPath);
    await fs.syncDir(backupDir);
    return { ...info, bytesCopied };
  } finally {
    await removeTree(fs, temp).catch(() => {});
  }
}

/** Every backup in `backupDir`, oldest first. A damaged BACKUP file is CORRUPTION. */
async function listBackupsWith(fs: FileSystem, backupDir: string): Promise<BackupInfo[]> {
  const out: BackupInfo[] = [];
  for (const id of await backupIds(fs, backupDir)) out.push(await readBackupInfo(fs, backupDir, id));
  return out;
}

/**
 * Restores backup `id` (default: the newest) into `dir`, which must not exist or be empty.
 * Every file is checked (size, SHA-256) before it counts; CORRUPTION names a damaged one.
 */
async function restoreBackupWith(fs: FileSystem, backupDir: string, dir: string, id: number | undefined): Promise<BackupInfo> {
  const target = path.resolve(dir);
  let emptyTarget = false;
  if (await fs.exists(target)) {
    let names: string[];
    try {
      names = await fs.readdir(target);
    } catch {
      throw invalidArgument(`restore: ${target} exists and is not a directory`);
    }
    if (names.length > 0) throw invalidArgument(`restore: ${target} is not empty; a restore never writes into a directory that holds anything`);
    emptyTarget = true;
  }
  const ids = await backupIds(fs, backupDir);
  if (ids.length === 0) throw new StrataError('NOT_FOUND', `restore: ${backupDir} holds no backup`);
  const chosen = id ?? ids[ids.length - 1]!;
  if (!ids.includes(chosen)) throw new StrataError('NOT_FOUND', `restore: ${backupDir} holds no backup ${chosen} (it holds ${ids.join(', ')})`);
  const info = await readBackupInfo(fs, backupDir, chosen);
  const parent = path.dirname(target);
  await fs.mkdir(parent);
  const temp = `${target}.restore-${randomBytes(6).toString('hex')}.tmp`;
  try {
    const dirs = new Set<string>();
    for (const f of info.files) {
      const to = path.join(temp, ...f.path.split('/'));
      const into = path.dirname(to);
      if (!dirs.has(into)) {
        await fs.mkdir(into);
        dirs.add(into);
      }
      await copyChecked(fs, contentFileName(backupDir, f.sha256), to, f);
    }
    await fs.mkdir(temp);
    for (const d of [...dirs].sort((a, b) => b.length - a.length)) await fs.syncDir(d);
    await fs.syncDir(temp);
    if (emptyTarget) await removeTree(fs, target);
    await fs.rename(temp, target);
    await fs.syncDir(parent);
    return info;
  } catch (err) {
    await removeTree(fs, temp).catch(() => {});
    throw err;
  }
}

/** Keeps the newest `keep` backups, deletes the others and every file none of the kept names. Resolves to the ids deleted. */
async function purgeOldBackupsWith(fs: FileSystem, backupDir: string, keep: number): Promise<number[]> {
  if (!Number.isSafeInteger(keep) || keep < 0) throw invalidArgument(`purge: keep must be a non-negative integer, got ${String(keep)}`);
  const ids = await backupIds(fs, backupDir);
  const doomed = ids.slice(0, Math.max(0, ids.length - keep));
  for (const id of doomed) await fs.unlink(backupFileName(backupDir, id));
  await fs.syncDir(backupDir);
  const live = new Set<string>();
  for (const id of ids.slice(doomed.length)) for (const f of (await readBackupInfo(fs, backupDir, id)).files) live.add(f.sha256);
  const filesDir = path.join(backupDir, 'files');
  if (await fs.exists(filesDir)) {
    for (const name of await fs.readdir(filesDir)) if (!live.has(name)) await fs.unlink(path.join(filesDir, name));
    await fs.syncDir(filesDir);
  }
  return doomed;
}

export interface BackupToolOptions {
  /** The file system to go through (default: the real one). */
  fs?: FileSystem;
}

/** Every backup in `backupDir`, oldest first. A damaged BACKUP file is CORRUPTION. */
export async function listBackups(backupDir: string, options?: BackupToolOptions): Promise<BackupInfo[]> {
  const o = toolOptions(options, []);
  return listBackupsWith(o.fs, path.resolve(checkDir(backupDir, 'backupDir')));
}

/**
 * Restores backup `id` (default: the newest) of `backupDir` into `dir`, which must not exist or
 * be empty (else INVALID_ARGUMENT). Every file's size and SHA-256 are checked: a damaged one is
 * CORRUPTION naming it, and nothing is left under `dir`.
 */
export async function restoreBackup(backupDir: string, dir: string, options?: BackupToolOptions & { id?: number }): Promise<BackupInfo> {
  const o = toolOptions(options, ['id']);
  const id = o.rest['id'];
  if (id !== undefined && (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1)) throw invalidArgument(`restore: option id must be a positive integer, got ${String(id)}`);
  await loadChecksum();
  return restoreBackupWith(o.fs, path.resolve(checkDir(backupDir, 'backupDir')), checkDir(dir, 'dir'), id as number | undefined);
}

/** Keeps the newest `keep` backups of `backupDir`; deletes the others and the files only they named. Resolves to the ids deleted. */
export async function purgeOldBackups(backupDir: string, keep: number, options?: BackupToolOptions): Promise<number[]> {
  const o = toolOptions(options, []);
  return purgeOldBackupsWith(o.fs, path.resolve(checkDir(backupDir, 'backupDir')), keep);
}

function checkDir(dir: unknown, what: string): string {
  if (typeof dir !== 'string' || dir.length === 0 || dir.includes('\0')) throw invalidArgument(`${what} must be a non-empty string`);
  return dir;
}

function toolOptions(options: unknown, extra: readonly string[]): { fs: FileSystem; rest: Record<string, unknown> } {
  if (options === undefined) return { fs: new NodeFileSystem(), rest: {} };
  if (typeof options !== 'object' || options === null) throw invalidArgument('options must be an object');
  const rest: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) {
    if (name !== 'fs' && !extra.includes(name)) throw invalidArgument(`unknown option ${name}`);
    rest[name] = value;
  }
  return { fs: (rest['fs'] as FileSystem | undefined) ?? new NodeFileSystem(), rest };
}

function encodeBackupInfo(info: BackupInfo): string {
  const json = JSON.stringify({ ...info, sequence: String(info.sequence) });
  return `${MAGIC_LINE}\n${json}\nsha256 ${sha256Hex(utf8(json))}\n`;
}

async function readBackupInfo(fs: FileSystem, backupDir: string, id: number): Promise<BackupInfo> {
  const file = backupFileName(backupDir, id);
  const text = Buffer.from(await fs.readFile(file)).toString('utf8');
  const lines = text.split('\n');
  if (lines[0] !== MAGIC_LINE) {
    if (lines[0]?.startsWith('stratadb-backup ')) throw new StrataError('NOT_SUPPORTED', `${file}: backup format ${lines[0].slice(16)} (this build reads ${BACKUP_FORMAT_VERSION})`);
    throw corruption(file, 0, 'not a stratadb backup description (bad first line)');
  }
  const json = lines[1] ?? '';
  if (lines[2] !== `sha256 ${sha256Hex(utf8(json))}`) throw corruption(file, MAGIC_LINE.length + 1, 'checksum mismatch');
  let parsed: { id: number; sequence: string; createdAt: string; files: BackupFile[]; bytes: number };
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    throw corruption(file, MAGIC_LINE.length + 1, `not JSON (${(err as Error).message})`);
  }
  return { ...parsed, sequence: BigInt(parsed.sequence) };
}

async function backupIds(fs: FileSystem, backupDir: string): Promise<number[]> {
  if (!(await fs.exists(backupDir))) return [];
  const ids: number[] = [];
  for (const name of await fs.readdir(backupDir)) {
    const m = /^BACKUP-([1-9]\d*)$/.exec(name);
    if (m) ids.push(Number(m[1]));
  }
  return ids.sort((a, b) => a - b);
}

/** The files of the database (a checkpoint) in `dir`, as "/"-separated paths. */
async function databaseFiles(fs: FileSystem, dir: string): Promise<string[]> {
  const layout = await readShardsFile(fs, dir);
  if (layout === undefined) return (await fs.readdir(dir)).filter((n) => n !== 'LOCK').sort();
  const out = ['SHARDS'];
  for (const folder of shardFolders(dir, layout)) {
    const name = path.basename(folder);
    for (const n of (await fs.readdir(folder)).sort()) if (n !== 'LOCK') out.push(`${name}/${n}`);
  }
  return out;
}

async function hashFile(fs: FileSystem, file: string): Promise<{ sha256: string; size: number }> {
  const source = fs.openReadable(file);
  try {
    const hash = createHash('sha256');
    for (let at = 0; at < source.size; at += CHUNK_BYTES) {
      hash.update(source.read(at, Math.min(CHUNK_BYTES, source.size - at)));
      if (at % (16 * CHUNK_BYTES) === 0) await nextTurn();
    }
    return { sha256: hash.digest('hex'), size: source.size };
  } finally {
    source.close();
  }
}

async function copyAndSync(fs: FileSystem, from: string, to: string): Promise<void> {
  const source = fs.openReadable(from);
  try {
    const out = await fs.createWritable(to);
    try {
      for (let at = 0; at < source.size; at += CHUNK_BYTES) await out.append(source.read(at, Math.min(CHUNK_BYTES, source.size - at)));
      await out.sync();
    } finally {
      await out.close();
    }
  } finally {
    source.close();
  }
}

/** Copies backup file `from` to `to`, checking its size and SHA-256 against `f` (CORRUPTION naming it). */
async function copyChecked(fs: FileSystem, from: string, to: string, f: BackupFile): Promise<void> {
  if (!(await fs.exists(from))) throw corruption(from, 0, `missing (holds ${f.path})`);
  const source = fs.openReadable(from);
  try {
    if (source.size !== f.size) throw corruption(from, 0, `${source.size} bytes, the backup recorded ${f.size} (holds ${f.path})`);
    const out = await fs.createWritable(to);
    try {
      const hash = createHash('sha256');
      for (let at = 0; at < source.size; at += CHUNK_BYTES) {
        const chunk = source.read(at, Math.min(CHUNK_BYTES, source.size - at));
        hash.update(chunk);
        await out.append(chunk);
      }
      if (hash.digest('hex') !== f.sha256) throw corruption(from, 0, `SHA-256 mismatch: the file is damaged (holds ${f.path})`);
      await out.sync();
    } finally {
      await out.close();
    }
  } finally {
    source.close();
  }
}

async function writeDurably(fs: FileSystem, file: string, bytes: Uint8Array): Promise<void> {
  const out = await fs.createWritable(file);
  try {
    await out.append(bytes);
    await out.sync();
  } finally {
    await out.close();
  }
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
