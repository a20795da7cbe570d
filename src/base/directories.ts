// A database directory: there already, or created so that it survives a power cut.

import * as path from 'node:path';
import { StrataError } from './errors.js';
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
