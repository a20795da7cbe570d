// stratadb changes <dir>: the change feed of a closed database, read-only — every write its
// retained logs hold above --since, in sequence order across shards, as db.changes() with
// live: false would list it after a reopen. Never opens the database: the logs are read
// through a WalSet that starts no log (every log is final), with the MANIFEST's last sequence
// for the retention floor.

import { SequenceClock, ChangeLog } from '../engine/index.js';
import { ChangeFeed, readShardsFile, shardFolders } from '../shard/index.js';
import { MAX_SEQ, StrataError, type FileSystem } from '../base/index.js';
import { WalSet } from '../wal/index.js';
import { listDir, readDatabase, requireDatabase, UsageError } from './db-files.js';
import { bytesJson, bytesText, type Output } from './output.js';

/** Prints the changes above `since`; resolves to false when the MANIFEST could not be read. */
export async function changes(fs: FileSystem, dir: string, since: number, out: Output): Promise<boolean> {
  const layout = await readShardsFile(fs, dir);
  const folders = layout === undefined ? [dir] : shardFolders(dir, layout);
  const logs: ChangeLog[] = [];
  for (const shardDir of folders) {
    const entries = await listDir(fs, shardDir);
    requireDatabase(shardDir, entries);
    const db = await readDatabase(fs, shardDir, 'changes', out);
    if (db === undefined) return false;
    const flushed = db.versions.lastSequence;
    await db.versions.close().catch(() => {});
    const wals = new WalSet(fs, shardDir, entries.map((e) => e.name));
    logs.push(new ChangeLog({ fs, wals, flushedSeq: () => flushed }));
  }
  let feed: ChangeFeed;
  try {
    // A clock past every number: everything the logs hold is "published".
    feed = new ChangeFeed(logs, new SequenceClock(MAX_SEQ), { since, live: false, durable: false, maxBuffered: 1000, signal: undefined }, () => {});
  } catch (err) {
    if (err instanceof StrataError && err.code === 'OUT_OF_RANGE') throw new UsageError(err.message);
    throw err;
  }
  let n = 0;
  for await (const change of feed) {
    n++;
    out.emit(
      { seq: String(change.seq), ops: change.ops.map((o) => (o.value === undefined ? { type: o.type, key: bytesJson(o.key) } : { type: o.type, key: bytesJson(o.key), value: bytesJson(o.value) })) },
      `${change.seq}: ${change.ops.map((o) => (o.value === undefined ? `del ${bytesText(o.key)}` : `put ${bytesText(o.key)} = ${bytesText(o.value, 64)}`)).join('; ')}`,
    );
  }
  out.text(`${n} change${n === 1 ? '' : 's'} above sequence ${since}`);
  return true;
}
