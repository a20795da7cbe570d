// A database directory: there already, or created so that it survives a power cut.

import * as path from 'node:path';
import { ioError, StrataError } from './errors.js';
import type { FileSystem } from './fs.js';

/**
 * Makes sure `dir` exists. A missing one is NOT_FOUND unless `createIfMissing`; then it is
 * created with its missing parents, and each new entry's parent is synced, since a new
 * directory's name is durable only once its parent is synced.
 */
export async function ensureDirectory(fs: FileSystem, dir: string, createIfMissing: boolean): Promise<void> {
  const created: string[] = [];
  for (let d = dir; !(await fs.exists(d)); d = path.dirname(d)) created.push(d);
  if (created.length === 0) return;
  if (!createIfMissing) throw new StrataError('NOT_FOUND', `${dir} does not exist (createIfMissing is false)`);
  await fs.mkdir(dir);
  for (const d of created) await fs.syncDir(path.dirname(d));
}

/**
 * Removes `dir` with the files in it and in its subfolders, one level deep (the layouts of a
 * database, a checkpoint, a restore in progress). Best effort for what it leaves behind on
 * failure; a missing `dir` is not an error. Each folder's file removals are synced before the
 * folder goes (a folder's removal must not be durable before its files'); the whole is durable
 * after syncDir() of its parent. Needs FileSystem.removeDir (NOT_SUPPORTED without it).
 */
export async function removeTree(fs: FileSystem, dir: string): Promise<void> {
  const removeDir = fs.removeDir?.bind(fs);
  if (removeDir === undefined) throw new StrataError('NOT_SUPPORTED', `removing ${dir} needs a FileSystem with removeDir()`);
  if (!(await fs.exists(dir))) return;
  for (const name of await fs.readdir(dir)) {
    const p = path.join(dir, name);
    let inner: string[] | undefined;
    try {
      inner = await fs.readdir(p);
    } catch {
      inner = undefined; // a file
    }
    if (inner === undefined) await fs.unlink(p);
    else {
      for (const n of inner) await fs.unlink(path.join(p, n));
      await fs.syncDir(p);
      await removeDir(p);
    }
  }
  await fs.syncDir(dir);
  await removeDir(dir);
}

/**
 * Replaces `file` (in directory `dir`) with `bytes` so that a power cut leaves the old file or
 * the new one, whole: written to `<file>.tmp`, fsynced, renamed over `file`, `dir` fsynced.
 */
export async function replaceFileDurably(fs: FileSystem, dir: string, file: string, bytes: Uint8Array): Promise<void> {
  const temp = `${file}.tmp`;
  const out = await fs.createWritable(temp);
  try {
    await out.append(bytes);
    await out.sync();
  } catch (err) {
    throw ioError('write', temp, err);
  } finally {
    await out.close();
  }
  await fs.rename(temp, file);
  await fs.syncDir(dir);
}
