// The tools that write: `stratadb checkpoint`, `backup`, `restore` and `reshard`. Unlike the read-only
// tools they open the database (taking its LOCK, so not beside a process that has it open)
// through the public API, which does the work (src/shard/checkpoint.ts, src/backup.ts,
// src/shard/reshard.ts).

import { parseArgs } from 'node:util';
import { listBackups, purgeOldBackups, restoreBackup, type BackupInfo } from '../backup.js';
import { open } from '../database.js';
import { reshard } from '../reshard.js';
import { Output } from './output.js';
import { UsageError } from './db-files.js';

export const WRITING_COMMANDS = ['checkpoint', 'backup', 'restore', 'reshard'] as const;
export type WritingCommand = (typeof WRITING_COMMANDS)[number];

export const WRITING_USAGE: Record<WritingCommand, { usage: string; help: string[] }> = {
  checkpoint: {
    usage: 'usage: stratadb checkpoint <dir> <dest>',
    help: [
      'Writes an openable copy of the database in <dir>, as of one moment, to the new directory',
      '<dest> (tables hard-linked where the file system allows, copied otherwise), and prints the',
      'sequence number it is at. Opens the database: it must not be open in another process.',
    ],
  },
  backup: {
    usage: 'usage: stratadb backup <dir> <backupDir> | backup --list <backupDir> | backup --purge-old K <backupDir>',
    help: [
      'Adds a numbered, incremental backup of the database in <dir> to <backupDir>: a file the',
      'backup directory already holds is not copied again; every file is recorded with its',
      'SHA-256. --list prints the backups (id, sequence, time, files, bytes); --purge-old K keeps',
      'the newest K and deletes the rest and the files only they named.',
      '',
      '  --list                 list the backups in <backupDir>',
      '  --purge-old K          keep the newest K backups',
      '  --json                 one JSON object per line instead of text',
    ],
  },
  restore: {
    usage: 'usage: stratadb restore [--id N] <backupDir> <dest>',
    help: [
      'Restores the newest backup (or backup N) of <backupDir> into <dest>, which must not exist',
      'or be empty. Every file\'s size and SHA-256 is checked; a damaged backup fails naming the',
      'file, and nothing is left under <dest>.',
      '',
      '  --id N                 the backup to restore (default: the newest)',
      '  --json                 one JSON object per line instead of text',
    ],
  },
  reshard: {
    usage: 'usage: stratadb reshard <dir> --shards M [--hash-tags on|off] [--merge-operator NAME|URL[#export]] [--json]',
    help: [
      'Changes the shard count of the closed database in <dir> to M (1 to 256), placing every key',
      'anew by jump consistent hashing, and prints how many keys kept their shard number and how',
      'many moved. Takes the database\'s LOCK: it must not be open anywhere. Crash-safe: a crash',
      'leaves the old database or the new one, and the next open or reshard finishes or rolls back.',
      '',
      '  --shards M             the new shard count',
      '  --hash-tags on|off     hash tags in the new placement (default: as recorded; on for one shard)',
      '  --merge-operator X     the merge operator the database records, when not a built-in one:',
      '                         a module URL, with #name for an export other than the default',
      '  --json                 one JSON object per line instead of text',
    ],
  },
};

const OPTIONS: Record<WritingCommand, Record<string, { type: 'boolean' | 'string' }>> = {
  checkpoint: { json: { type: 'boolean' } },
  backup: { json: { type: 'boolean' }, list: { type: 'boolean' }, 'purge-old': { type: 'string' } },
  restore: { json: { type: 'boolean' }, id: { type: 'string' } },
  reshard: { json: { type: 'boolean' }, shards: { type: 'string' }, 'hash-tags': { type: 'string' }, 'merge-operator': { type: 'string' } },
};

/** Runs one writing tool; throws UsageError for bad arguments, StrataError for failures. Resolves to the exit code. */
export async function runWritingTool(name: WritingCommand, args: readonly string[], out: (json: boolean) => Output): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: [...args], options: OPTIONS[name], allowPositionals: true, strict: true }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const o = out(values['json'] === true);
  const paths = (n: number) => {
    if (positionals.length !== n) throw new UsageError(`${n} path${n === 1 ? '' : 's'} expected, got ${positionals.length}`);
    return positionals;
  };
  switch (name) {
    case 'checkpoint': {
      const [dir, dest] = paths(2);
      const db = await open(dir!, { createIfMissing: false });
      try {
        const started = performance.now();
        const sequence = await db.checkpoint(dest!);
        const ms = performance.now() - started;
        o.emit({ type: 'checkpoint', dir: dest, sequence: String(sequence), ms: Math.round(ms) }, `checkpoint of ${dir} at sequence ${sequence} in ${dest} (${ms.toFixed(0)} ms)`);
      } finally {
        await db.close();
      }
      return 0;
    }
    case 'backup': {
      if (values['list'] === true) {
        const [backupDir] = paths(1);
        for (const b of await listBackups(backupDir!)) emitBackup(o, b);
        return 0;
      }
      if (values['purge-old'] !== undefined) {
        const keep = values['purge-old'];
        if (typeof keep !== 'string' || !/^\d+$/.test(keep)) throw new UsageError(`--purge-old wants a non-negative integer, got ${JSON.stringify(keep)}`);
        const [backupDir] = paths(1);
        const deleted = await purgeOldBackups(backupDir!, Number(keep));
        o.emit({ type: 'purged', ids: deleted }, deleted.length === 0 ? 'nothing to purge' : `deleted backups ${deleted.join(', ')}`);
        return 0;
      }
      const [dir, backupDir] = paths(2);
      const db = await open(dir!, { createIfMissing: false });
      try {
        const started = performance.now();
        const b = await db.backup(backupDir!);
        const seconds = (performance.now() - started) / 1000;
        o.emit(
          { type: 'backup', id: b.id, sequence: String(b.sequence), files: b.files.length, bytes: b.bytes, bytesCopied: b.bytesCopied, seconds },
          `backup ${b.id} at sequence ${b.sequence}: ${b.files.length} files, ${mb(b.bytes)} MB, ${mb(b.bytesCopied)} MB copied, ${seconds.toFixed(2)} s`,
        );
      } finally {
        await db.close();
      }
      return 0;
    }
    case 'restore': {
      const [backupDir, dest] = paths(2);
      const idText = values['id'];
      if (idText !== undefined && (typeof idText !== 'string' || !/^[1-9]\d*$/.test(idText))) throw new UsageError(`--id wants a positive integer, got ${JSON.stringify(idText)}`);
      const b = await restoreBackup(backupDir!, dest!, idText === undefined ? {} : { id: Number(idText) });
      o.emit({ type: 'restored', id: b.id, sequence: String(b.sequence), dir: dest }, `restored backup ${b.id} (sequence ${b.sequence}) into ${dest}`);
      return 0;
    }
    case 'reshard': {
      const [dir] = paths(1);
      const shardsText = values['shards'];
      if (typeof shardsText !== 'string' || !/^[1-9]\d*$/.test(shardsText)) throw new UsageError(`--shards wants a positive integer, got ${JSON.stringify(shardsText)}`);
      const tags = values['hash-tags'];
      if (tags !== undefined && tags !== 'on' && tags !== 'off') throw new UsageError(`--hash-tags wants on or off, got ${JSON.stringify(tags)}`);
      const op = values['merge-operator'];
      const started = performance.now();
      const r = await reshard(dir!, {
        shards: Number(shardsText),
        ...(tags !== undefined && { hashTags: tags === 'on' }),
        ...(typeof op === 'string' && { mergeOperator: mergeOperatorArg(op) }),
      });
      const seconds = (performance.now() - started) / 1000;
      if (!r.rewritten) {
        o.emit({ type: 'reshard', ...r, sequence: String(r.sequence), seconds }, `${dir} already has ${r.shardsAfter} shard${r.shardsAfter === 1 ? '' : 's'} placed as asked: nothing to do`);
        return 0;
      }
      o.emit(
        { type: 'reshard', ...r, sequence: String(r.sequence), seconds },
        `resharded ${dir} from ${r.shardsBefore} to ${r.shardsAfter} shards: ${r.keys} keys, ${r.kept} kept their shard, ${r.moved} moved` +
          ` (${r.keys === 0 ? 0 : ((100 * r.moved) / r.keys).toFixed(1)}%); ${r.tables} tables written (${mb(r.bytes)} MB), ${r.tablesLinked} linked, at sequence ${r.sequence}; ${seconds.toFixed(2)} s`,
      );
      return 0;
    }
  }
}

/** --merge-operator: a built-in name, or a module URL with an optional #export. */
function mergeOperatorArg(text: string): 'add' | 'lww' | { module: string; export: string } {
  if (text === 'add' || text === 'lww') return text;
  const hash = text.lastIndexOf('#');
  return hash < 0 ? { module: text, export: 'default' } : { module: text.slice(0, hash), export: text.slice(hash + 1) };
}

function emitBackup(o: Output, b: BackupInfo): void {
  o.emit(
    { type: 'backup', id: b.id, sequence: String(b.sequence), createdAt: b.createdAt, files: b.files.length, bytes: b.bytes },
    `${b.id}\tsequence ${b.sequence}\t${b.createdAt}\t${b.files.length} files\t${mb(b.bytes)} MB`,
  );
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
