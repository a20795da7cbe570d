// Creating a database directory so that it survives a power cut.

import * as path from 'node:path';
import type { FileSystem } from './fs.js';

/**
 * Creates `dir` and its missing parents, then syncs each new entry's parent, since a new
 * directory's name is durable only once its parent is synced. Returns whether it created `dir`.
 */
export async function createDirectoryDurably(fs: FileSystem, dir: string): Promise<boolean> {
  const created: string[] = [];
  for (let d = dir; !(await fs.exists(d)); d = path.dirname(d)) created.push(d);
  if (created.length === 0) return false;
  await fs.mkdir(dir);
  for (const d of created) await fs.syncDir(path.dirname(d));
  return true;
}
