// The stratadb command-line tools: verify, dump, stats, changes; checkpoint, backup, restore, reshard.
// main() is the whole program; the bin script hands it process.argv.slice(2) and exits with
// what it returns.
//
// verify, dump, stats and changes are read-only: they never call open() (which writes a new
// MANIFEST and flushes the WALs), write nothing and never take the LOCK. checkpoint, backup,
// restore and reshard write (backup.ts): they open the database through the public API.

import { parseArgs } from 'node:util';
import { loadChecksum, NodeFileSystem, StrataError } from '../base/index.js';
import { readShardsFile, shardFolders } from '../shard/index.js';
import { UsageError } from './db-files.js';
import { changes } from './changes.js';
import { dump } from './dump.js';
import { Output, reasonOf, type ToolIO } from './output.js';
import { stats } from './stats.js';
import { verify } from './verify.js';
import { runWritingTool, WRITING_COMMANDS, WRITING_USAGE, type WritingCommand } from './backup.js';

export type { ToolIO } from './output.js';

/** Exit codes of main(). Documented in the help text: scripts depend on them. */
export const ExitCode = {
  /** Everything checked out (notes allowed). */
  Ok: 0,
  /** Damage found: a checksum, a missing file, a MANIFEST that disagrees with a file. */
  Damaged: 1,
  /** A usage error, or a path that is missing, unreadable or not stratadb's. */
  Usage: 2,
  /** A bug in stratadb. */
  Internal: 3,
  /** stdout was closed before the report was complete (as a shell reports SIGPIPE). */
  OutputClosed: 141,
} as const;

const COMMON_NOTE = [
  'verify, dump, stats and changes are read-only: they never take the database\'s LOCK and never',
  'write. They can run beside a process that has the database open, but that process may create',
  'and delete files meanwhile, and verify can then report a table as missing, or an orphan, that',
  'is not. checkpoint, backup and reshard open the database (taking its LOCK); restore writes a',
  'new one.',
];

const EXIT_CODES = [
  'exit codes: 0 all good; 1 damage found (corruption, a missing file); 2 usage error, or a',
  'path that is missing, unreadable or not stratadb\'s; 3 internal error (a bug in stratadb).',
];

const USAGE = [
  'usage: stratadb <command> [options]',
  '',
  '  verify <dir>        check every checksum of every live file, and the MANIFEST against the files',
  '  dump <dir|file>     a database\'s live version and WALs, or every entry, record or edit of one',
  '                      .sst, .log or MANIFEST file',
  '  stats <dir>         tables, bytes and entries per level, WAL bytes, sequence numbers',
  '  changes <dir>       the writes the retained logs hold (the change feed), one per line',
  '  checkpoint <dir> <dest>        an openable copy of the database as of one moment',
  '  backup <dir> <backupDir>       add an incremental backup (--list, --purge-old K)',
  '  restore <backupDir> <dest>     restore the newest backup (--id N) into a new directory',
  '  reshard <dir> --shards M       change a closed database\'s shard count (crash-safe)',
  '  replicate <dir> --servers URL --stream NAME   publish the writes to NATS JetStream (until SIGINT)',
  '  follow <dir> --servers URL --stream NAME      keep a read replica from the stream (until SIGINT)',
  '  help [command]      this text, or one command\'s',
  '',
  ...COMMON_NOTE,
  '',
  ...EXIT_CODES,
];

interface Command {
  usage: string;
  help: string[];
  options: Record<string, { type: 'boolean' | 'string'; short?: string }>;
}

const JSON_OPTION = '  --json                 one JSON object per line instead of text';

const COMMANDS: Record<'verify' | 'dump' | 'stats' | 'changes', Command> = {
  verify: {
    usage: 'usage: stratadb verify [--json] <dir>',
    help: [
      'Checks, without opening the database: CURRENT and every edit of the MANIFEST; that every',
      'table the live version names exists, has the recorded size, and opens (footer, index, filter',
      'and properties checksums), that every data block\'s checksum holds and that its entries are',
      'in order, inside the recorded key and sequence ranges, with the recorded counts; every WAL',
      'recovery would replay (only the newest may end in a torn tail, which is a note). Files no',
      'version names are notes. One line per file (OK, ERROR with the reason, NOTE), then a summary.',
      '',
      JSON_OPTION,
    ],
    options: { json: { type: 'boolean' } },
  },
  dump: {
    usage: 'usage: stratadb dump [--json] [--limit N] [--max-value-bytes N] <dir|file>',
    help: [
      'A directory: the MANIFEST\'s counters, the tables of each level (key and sequence ranges,',
      'sizes, counts) and the WALs\' record counts. A .sst file: its properties and every entry. A',
      '.log file: every record (offset, first sequence, entries). A MANIFEST: every edit. Keys and',
      'values are shown as quoted UTF-8 when printable, else as 0x-hex. Damaged log records are',
      'shown where they are and make the exit code 1.',
      '',
      JSON_OPTION,
      '  --limit N              show at most N entries (table) or records (log)',
      '  --max-value-bytes N    cut values after N bytes (default 64); keys are never cut',
    ],
    options: { json: { type: 'boolean' }, limit: { type: 'string' }, 'max-value-bytes': { type: 'string' } },
  },
  stats: {
    usage: 'usage: stratadb stats [--json] <dir>',
    help: [
      'Per level: tables, bytes, entries, deletions and raw key and value bytes (from each table\'s',
      'properties); the WALs recovery would replay: bytes, records, entries; sequence numbers.',
      '',
      JSON_OPTION,
    ],
    options: { json: { type: 'boolean' } },
  },
  changes: {
    usage: 'usage: stratadb changes [--json] [--since N] <dir>',
    help: [
      'The change feed of a closed database: every write its retained logs hold whose sequence',
      'number is above --since (default 0), in sequence order across shards, one line per write',
      '(a batch is one line; a batch across shards is listed once it committed, as a reopen would',
      'recover it). A --since older than the logs retained is a usage error naming the oldest.',
      '',
      '  --json                 one JSON object per line: {"seq": "N", "ops": [{type, key, value}]};',
      '                         keys and values as {"utf8"} when printable, else {"hex"}',
      '  --since N              only writes above sequence number N',
    ],
    options: { json: { type: 'boolean' }, since: { type: 'string' } },
  },
};

const DEFAULT_MAX_VALUE_BYTES = 64;

/**
 * Runs one tool. `argv` is the command and its arguments (process.argv.slice(2)); `io`
 * replaces stdout and stderr, one line per call. Resolves to the exit code (ExitCode).
 */
export async function main(argv: readonly string[], io: ToolIO = {}): Promise<number> {
  const [name, ...args] = argv;
  const plain = new Output(io, false);
  if (name === undefined) {
    for (const line of USAGE) plain.error(line);
    return ExitCode.Usage;
  }
  if (name === 'help' || name === '--help' || name === '-h') {
    const topic = args[0];
    if (topic === undefined) return writeLines(plain, USAGE);
    if (isWriting(topic)) return writeLines(plain, writingHelp(topic));
    if (!isCommand(topic)) return usageError(plain, `stratadb: unknown command ${JSON.stringify(topic)}`, USAGE);
    return writeLines(plain, commandHelp(topic));
  }
  if (isWriting(name)) return runWriting(name, args, io);
  if (!isCommand(name)) return usageError(plain, `stratadb: unknown command ${JSON.stringify(name)}`, USAGE);
  const command = COMMANDS[name];

  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: [...args], options: { ...command.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true }));
  } catch (err) {
    return usageError(plain, `stratadb ${name}: ${(err as Error).message}`, [command.usage]);
  }
  if (values['help'] === true) return writeLines(plain, commandHelp(name));
  if (positionals.length !== 1) {
    return usageError(plain, `stratadb ${name}: ${positionals.length === 0 ? 'a path is required' : `one path expected, got ${positionals.length}`}`, [command.usage]);
  }
  const target = positionals[0]!;
  const out = new Output(io, values['json'] === true);
  try {
    await loadChecksum();
    const fs = new NodeFileSystem();
    if (name === 'changes') {
      // Every shard at once: the feed merges them.
      return (await changes(fs, target, optionInt(values['since'], '--since', 0), out)) ? ExitCode.Ok : ExitCode.Damaged;
    }
    const run = async (dir: string): Promise<number> => {
      switch (name) {
        case 'verify':
          return await verify(fs, dir, out);
        case 'stats':
          return await stats(fs, dir, out);
        case 'dump':
          return await dump(fs, dir, {
            limit: optionInt(values['limit'], '--limit', Infinity),
            maxValueBytes: optionInt(values['max-value-bytes'], '--max-value-bytes', DEFAULT_MAX_VALUE_BYTES),
          }, out);
      }
    };
    // A sharded database: each shard folder is a database of its own to these tools.
    const layout = await readShardsFile(fs, target);
    if (layout === undefined) return await run(target);
    let worst: number = ExitCode.Ok;
    const folders = shardFolders(target, layout);
    const shards = folders.length;
    for (let i = 0; i < shards; i++) {
      const dir = folders[i]!;
      out.emit({ type: 'shard', shard: i, shards, dir }, `shard ${i} of ${shards}: ${dir}`);
      worst = Math.max(worst, await run(dir));
    }
    return worst;
  } catch (err) {
    if (err instanceof UsageError) return usageError(plain, `stratadb ${name}: ${err.message}`, [command.usage]);
    if (Output.isClosedError(err)) return ExitCode.OutputClosed;
    if (err instanceof StrataError) {
      plain.error(`stratadb ${name}: ${reasonOf(err)}`);
      return ExitCode.Damaged;
    }
    plain.error(`stratadb ${name}: internal error (a bug in stratadb; please report it):`);
    plain.error(err instanceof Error && err.stack !== undefined ? err.stack : String(err));
    return ExitCode.Internal;
  }
}

function isWriting(name: string): name is WritingCommand {
  return (WRITING_COMMANDS as readonly string[]).includes(name);
}

function writingHelp(name: WritingCommand): string[] {
  return [WRITING_USAGE[name].usage, '', ...WRITING_USAGE[name].help, '', ...EXIT_CODES];
}

/** checkpoint, backup, restore: errors are reported as the read-only tools report theirs. */
async function runWriting(name: WritingCommand, args: readonly string[], io: ToolIO): Promise<number> {
  const plain = new Output(io, false);
  if (args.includes('--help') || args.includes('-h')) return writeLines(plain, writingHelp(name));
  try {
    await loadChecksum();
    return await runWritingTool(name, args, (json) => new Output(io, json));
  } catch (err) {
    if (err instanceof UsageError) return usageError(plain, `stratadb ${name}: ${err.message}`, [WRITING_USAGE[name].usage]);
    if (Output.isClosedError(err)) return ExitCode.OutputClosed;
    if (err instanceof StrataError) {
      plain.error(`stratadb ${name}: ${reasonOf(err)}`);
      return err.code === 'INVALID_ARGUMENT' || err.code === 'NOT_FOUND' || err.code === 'LOCKED' ? ExitCode.Usage : ExitCode.Damaged;
    }
    plain.error(`stratadb ${name}: internal error (a bug in stratadb; please report it):`);
    plain.error(err instanceof Error && err.stack !== undefined ? err.stack : String(err));
    return ExitCode.Internal;
  }
}

function isCommand(name: string): name is keyof typeof COMMANDS {
  return Object.hasOwn(COMMANDS, name);
}

function commandHelp(name: keyof typeof COMMANDS): string[] {
  const c = COMMANDS[name];
  return [c.usage, '', ...c.help, '', ...COMMON_NOTE, '', ...EXIT_CODES];
}

function writeLines(out: Output, lines: readonly string[]): number {
  out.emit({}, lines);
  return ExitCode.Ok;
}

function usageError(out: Output, message: string, usage: readonly string[]): number {
  out.error(message);
  for (const line of usage) out.error(line);
  return ExitCode.Usage;
}

/** A non-negative integer option; throws UsageError for anything else. */
function optionInt(value: string | boolean | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) throw new UsageError(`${option} wants a non-negative integer, got ${JSON.stringify(value)}`);
  return n;
}
