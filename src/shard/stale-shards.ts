// What a reshard cut short leaves behind, removed at the next open (or the next reshard) while
// it holds the database's LOCK. The SHARDS file names the one generation of shard folders that
// is the database (shards-file.ts); everything else of stratadb's in the root directory is left
// over from a reshard (reshard.ts):
// - before its commit point: the new generation's folders, and SHARDS.tmp (rolled back);
// - after it: the old generation's folders, or the old one-shard engine's files in the root
//   directory (rolled forward: the new generation is complete and durable).
// Names stratadb never writes are left alone.

import * as path from 'node:path';
import { parseFileName, removeTree, type FileSystem } from '../base/index.js';
import { parseShardFolder, shardsFileName, type ShardLayout } from './shards-file.js';

/**
 * Removes what is stale in `dir` for `layout` (undefined: a one-shard database in the root
 * directory, with no SHARDS file). Resolves to whether anything was. REQUIRES: the LOCK held.
 */
export async function removeStaleShards(fs: FileSystem, dir: string, layout: ShardLayout | undefined): Promise<boolean> {
  const stale: string[] = [];
  for (const name of await fs.readdir(dir)) {
    const folder = parseShardFolder(name);
    if (folder !== undefined) {
      // A database in the root directory made by open() never had folders: the generation-0
      // ones are a creation of a sharded database cut short, which open() handles itself.
      const current = layout === undefined ? folder.generation === 0 : folder.generation === layout.generation && folder.shard < layout.placement.count;
      if (!current) stale.push(name);
      continue;
    }
    if (layout !== undefined) {
      const kind = parseFileName(name)?.kind;
      if (kind !== undefined && kind !== 'lock') stale.push(name);
    }
    if (name === `${path.basename(shardsFileName(dir))}.tmp`) stale.push(name);
  }
  if (stale.length === 0) return false;
  for (const name of stale) {
    const p = path.join(dir, name);
    if (parseShardFolder(name) !== undefined) await removeTree(fs, p);
    else await fs.unlink(p);
  }
  await fs.syncDir(dir);
  return true;
}

