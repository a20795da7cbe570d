// Engine options: documented units and defaults, validated and resolved once at open.
//
// Each option is declared once, in OPTIONS: its documentation, its check (type and range) and
// its default. What open() takes (EngineOptions), what the engine reads (ResolvedOptions) and
// the names open() accepts (OPTION_NAMES) are derived from it. The README's options table
// says the same for users; test/options.test.ts checks that the two agree.

import * as os from 'node:os';
import { invalidArgument, NodeFileSystem, toMergeOperatorSpec, type FileSystem, type MergeOperatorSpec } from '../base/index.js';
import { WAL_PREALLOCATE_BYTES } from '../wal/index.js';

export type WalRecoveryMode = 'tolerate-tail' | 'strict' | 'salvage';

/**
 * One option: what a caller may pass (In, a type only) and what it resolves to (Out).
 * resolve() checks a given value (INVALID_ARGUMENT) or supplies the default for undefined;
 * `earlier` holds the options resolved before this one, in OPTIONS order.
 */
interface OptionSpec<In, Out = In> {
  resolve(value: unknown, name: string, earlier: Readonly<Record<string, unknown>>): Out;
  readonly input?: In;
}

/** An integer from `min` to `max`; the default may depend on the machine. */
function integer(fallback: number | (() => number), min: number, max: number): OptionSpec<number> {
  return {
    resolve: (v, name) => {
      if (v === undefined) return typeof fallback === 'number' ? fallback : fallback();
      return checkInteger(v, name, min, max);
    },
  };
}

/**
 * An integer from the value of option `floor` (declared earlier) to `max`, by default
 * `fallback` or, when that is smaller, the value of `floor`.
 */
function integerAtLeast(floor: string, fallback: number, max: number): OptionSpec<number> {
  return {
    resolve: (v, name, earlier) => {
      const min = earlier[floor] as number;
      return v === undefined ? Math.max(fallback, min) : checkInteger(v, name, min, max);
    },
  };
}

function checkInteger(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalidArgument(`option ${name} must be an integer from ${min} to ${max}, got ${String(v)}`);
  }
  return v;
}

function boolean(fallback: boolean): OptionSpec<boolean> {
  return {
    resolve: (v, name) => {
      if (v === undefined) return fallback;
      if (typeof v !== 'boolean') throw invalidArgument(`option ${name} must be a boolean, got ${typeof v}`);
      return v;
    },
  };
}

function oneOf<T extends string>(fallback: T, allowed: readonly T[]): OptionSpec<T> {
  return {
    resolve: (v, name) => {
      if (v === undefined) return fallback;
      if (!allowed.includes(v as T)) throw invalidArgument(`option ${name} must be one of ${allowed.join(', ')}, got ${String(v)}`);
      return v as T;
    },
  };
}

/** A function to call back; none by default. */
function callback<F extends (...args: never[]) => unknown>(): OptionSpec<F, F | undefined> {
  return {
    resolve: (v, name) => {
      if (v !== undefined && typeof v !== 'function') throw invalidArgument(`option ${name} must be a function`);
      return v as F | undefined;
    },
  };
}

/** The methods every FileSystem has (the optional ones of WritableFile are not here). */
const FILE_SYSTEM_METHODS = [
  'createWritable', 'openReadable', 'readFile', 'rename', 'unlink', 'syncDir', 'syncFile', 'mkdir', 'readdir', 'exists', 'lock',
] as const satisfies readonly (keyof FileSystem)[];

/** A FileSystem: an object with every method of one; the real one by default. */
const fileSystem: OptionSpec<FileSystem> = {
  resolve: (v, name) => {
    if (v === undefined) return new NodeFileSystem();
    if (typeof v !== 'object' || v === null) throw invalidArgument(`option ${name} must be a FileSystem object`);
    const missing = FILE_SYSTEM_METHODS.filter((m) => typeof (v as Record<string, unknown>)[m] !== 'function');
    if (missing.length > 0) throw invalidArgument(`option ${name} is not a FileSystem: it has no ${missing.join(', ')}`);
    return v as FileSystem;
  },
};

/** A function of no arguments returning milliseconds since the epoch; Date.now by default. */
const wallClock: OptionSpec<() => number> = {
  resolve: (v, name) => {
    if (v === undefined) return Date.now;
    if (typeof v !== 'function') throw invalidArgument(`option ${name} must be a function returning milliseconds since the epoch`);
    return v as () => number;
  },
};

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** An object { bytes, ms } of non-negative integers, each with its default. */
function retentionWindow(bytes: number, ms: number): OptionSpec<{ bytes?: number; ms?: number }, { bytes: number; ms: number }> {
  return {
    resolve: (v, name) => {
      const o = (v ?? {}) as Record<string, unknown>;
      if (typeof o !== 'object' || o === null || Array.isArray(o)) throw invalidArgument(`option ${name} must be an object { bytes, ms }`);
      for (const key of Object.keys(o)) if (key !== 'bytes' && key !== 'ms') throw invalidArgument(`unknown option ${name}.${key}`);
      const max = Number.MAX_SAFE_INTEGER;
      return {
        bytes: o['bytes'] === undefined ? bytes : checkInteger(o['bytes'], `${name}.bytes`, 0, max),
        ms: o['ms'] === undefined ? ms : checkInteger(o['ms'], `${name}.ms`, 0, max),
      };
    },
  };
}

/** Option mergeOperator: a built-in's name or a module URL and export name; none by default. */
const mergeOperator: OptionSpec<'add' | 'lww' | { module: string | URL; export?: string }, MergeOperatorSpec | undefined> = {
  resolve: (v, name) => toMergeOperatorSpec(v, name),
};

/** Every engine option, in the order they are resolved (an option's default may use an earlier one). */
const OPTIONS = {
  /** Create the directory and an empty database when there is none. Default true. */
  createIfMissing: boolean(true),
  /** Fail with INVALID_ARGUMENT if a database already exists there. Default false. */
  errorIfExists: boolean(false),
  /** Memtable budget in bytes; a full memtable becomes immutable and is flushed. Default 64 MiB. */
  memtableBytes: integer(64 * MiB, 64 * KiB, 2 * GiB),
  /** Immutable memtables allowed to wait for their flush before writes wait too. Default 2. */
  maxImmutableMemtables: integer(2, 1, 64),
  /** Block cache budget in bytes of uncompressed blocks; 0 disables it. Default 32 MiB. */
  blockCacheBytes: integer(32 * MiB, 0, 64 * GiB),
  /** Table files kept open at once. Default 500. */
  maxOpenFiles: integer(500, 8, 1_000_000),
  /**
   * Whether open() starts opening the tables (up to maxOpenFiles) in the background, so that
   * the first reads find them open; false leaves each to open at its first read. Default true.
   */
  openTablesAhead: boolean(true),
  /** Uncompressed size a data block is cut at, in bytes. Default 4096. */
  blockBytes: integer(4 * KiB, 256, 4 * MiB),
  /** Per-block compression of new tables. Default 'lz4'. */
  compression: oneOf('lz4', ['lz4', 'none'] as const),
  /** Bloom filter bits per key; 0 disables filters. Default 10. */
  bloomBitsPerKey: integer(10, 0, 64),
  /** Default for a write's `sync` option. Default false. */
  sync: boolean(false),
  /**
   * How far ahead of its appends a WAL is allocated at most (fallocate, with the native addon),
   * so that a sync finds the file's size already durable and commits the data alone. A new
   * log starts 16 KiB ahead and doubles with its size up to this; 0 never preallocates.
   * Default 4 MiB.
   */
  walPreallocateBytes: integer(WAL_PREALLOCATE_BYTES, 0, 1 * GiB),
  /**
   * What opening does with a damaged WAL: 'tolerate-tail' (default) drops a torn tail of the
   * newest WAL and fails on anything else; 'strict' fails on any damage, a torn tail included;
   * 'salvage' skips damaged records, reporting each through onRecoverySkip.
   */
  walRecovery: oneOf<WalRecoveryMode>('tolerate-tail', ['tolerate-tail', 'strict', 'salvage']),
  /** Level-0 files that start a compaction into level 1. Default 4. */
  l0CompactionTrigger: integer(4, 1, 1000),
  /** Level-0 files at which each write group is delayed by 1 ms. Default 20, and at least l0CompactionTrigger. */
  l0SlowdownTrigger: integerAtLeast('l0CompactionTrigger', 20, 10_000),
  /** Level-0 files at which writes wait for compaction. Default 36, and at least l0SlowdownTrigger. */
  l0StopTrigger: integerAtLeast('l0SlowdownTrigger', 36, 10_000),
  /** Target bytes of level 1. Default 64 MiB. */
  levelBaseBytes: integer(64 * MiB, 64 * KiB, 1024 * GiB),
  /** Each level below level 1 targets this many times the level above. Default 10. */
  levelMultiplier: integer(10, 2, 100),
  /** Compaction output files are cut at about this many bytes. Default 32 MiB. */
  targetFileBytes: integer(32 * MiB, 64 * KiB, 4 * GiB),
  /**
   * Worker threads that run flushes and compactions; 0 runs them on the main thread. Default:
   * the machine's parallelism minus one, at least 2 (so that a flush never waits behind a
   * compaction) and at most 4.
   */
  compactionWorkers: integer(() => Math.min(4, Math.max(2, os.availableParallelism() - 1)), 0, 64),
  /**
   * Cap of each worker thread's JavaScript heap (V8's old generation), in bytes, rounded up to
   * whole MiB. A flush or compaction whose thread reaches it fails with IO_ERROR (errno ENOMEM),
   * and writes stop as after any background failure; nothing written is lost. Jobs keep their
   * data in buffers outside this heap, and use a few MiB of it. Default 64 MiB.
   */
  compactionWorkerHeapBytes: integer(64 * MiB, 1 * MiB, 64 * GiB),
  /**
   * How much lower than the application's threads the worker threads started for compactions
   * run: a nice increment (setpriority(2); Linux, where it is per thread), 0 to 19. Threads
   * started for flushes keep the application's priority (RocksDB's high- and low-priority
   * pools). Where the cores are all busy, reads and writes on the event loop's thread then go
   * first and compactions take what is left; writes that outrun them wait at the level-0
   * limits, which frees the cores for them. 0: the same priority. Default 10.
   */
  backgroundNice: integer(10, 0, 19),
  /**
   * How much WAL each shard keeps past its flush for the change feed (db.changes()), besides
   * what open feeds are reading: the newest released logs, while together they are at most
   * `bytes` (default 64 MiB: about one default memtable of writes) and each was released at
   * most `ms` ago (default 10 minutes; a reopen counts from the open). A feed's own logs are
   * kept while it is open, beyond this window. { bytes: 0 } keeps nothing but what feeds read.
   */
  changeRetention: retentionWindow(64 * MiB, 10 * 60 * 1000),
  /**
   * Bytes of memory for the keys written while transactions or conditional writes are open
   * (src/shard/write-tracker.ts). Past it the oldest are forgotten, and a transaction that read
   * before them conflicts rather than miss a write. Default 32 MiB.
   */
  conflictTrackingBytes: integer(32 * MiB, 64 * KiB, 4 * GiB),
  /**
   * What db.merge() operands mean (src/base/merge-operator.ts): 'add' (a signed 64-bit
   * counter), 'lww' (a last-writer-wins register), or { module, export }: an object
   * { name, fullMerge, partialMerge? } exported by the ES module at that absolute URL
   * (compaction worker threads import it too). Recorded in the database by name: reopening
   * with another operator, or with none, fails with INVALID_ARGUMENT. None by default (merge()
   * then fails with INVALID_ARGUMENT).
   */
  mergeOperator,
  /**
   * Time-to-live of every put that gives none of its own, in milliseconds; 0 (the default):
   * puts do not expire. An expired entry reads as deleted at once; compaction drops it.
   */
  ttl: integer(0, 0, Number.MAX_SAFE_INTEGER),
  /**
   * The wall clock that time-to-live reads, in milliseconds since the epoch. Default Date.now;
   * tests inject their own.
   */
  clock: wallClock,
  /**
   * Whether a new sharded database places keys by their hash tags (src/shard/router.ts): a key
   * holding `{tag}` (at least one byte between the first "{" and the next "}") is placed by the
   * tag's bytes alone, so keys of one tag share a shard. Recorded when the database is created
   * (and by a reshard); an existing database keeps what it recorded. Default true.
   */
  hashTags: boolean(true),
  /** Called for every byte range that salvage skipped. */
  onRecoverySkip: callback<(file: string, offset: number, bytes: number, reason: string) => void>(),
  /** The file system; the real one by default. Tests inject faults through it. */
  fs: fileSystem,
};

type Options = typeof OPTIONS;

/** What open() takes: every option may be left out. */
export type EngineOptions = { [K in keyof Options]?: Options[K] extends OptionSpec<infer In, unknown> ? In : never };

/** Every option, resolved: given or defaulted. */
export type ResolvedOptions = { [K in keyof Options]: ReturnType<Options[K]['resolve']> };

/** The names of the engine options, in OPTIONS order. */
export const OPTION_NAMES: readonly (keyof Options)[] = Object.keys(OPTIONS) as (keyof Options)[];

/** Validates every option (INVALID_ARGUMENT on any unknown name or out-of-range value). */
export function resolveOptions(input: unknown, extraKnown: readonly string[] = []): ResolvedOptions {
  if (input === undefined || input === null) input = {};
  if (typeof input !== 'object' || Array.isArray(input)) throw invalidArgument('options must be an object');
  const o = input as Record<string, unknown>;
  for (const name of Object.keys(o)) {
    if (!Object.hasOwn(OPTIONS, name) && !extraKnown.includes(name)) throw invalidArgument(`unknown option ${name}`);
  }
  const resolved: Record<string, unknown> = {};
  for (const name of OPTION_NAMES) resolved[name] = OPTIONS[name].resolve(o[name], name, resolved);
  return resolved as ResolvedOptions;
}
