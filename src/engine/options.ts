// Engine options: documented units and defaults, validated and resolved once at open.

import * as os from 'node:os';
import { invalidArgument, NodeFileSystem, type FileSystem } from '../base/index.js';

export type WalRecoveryMode = 'tolerate-tail' | 'strict' | 'salvage';

export interface EngineOptions {
  /** Create the directory and an empty database when there is none. Default true. */
  createIfMissing?: boolean;
  /** Fail with INVALID_ARGUMENT if a database already exists there. Default false. */
  errorIfExists?: boolean;
  /** Memtable budget in bytes; a full memtable becomes immutable and is flushed. Default 64 MiB. */
  memtableBytes?: number;
  /** Immutable memtables allowed to wait for their flush before writes wait too. Default 2. */
  maxImmutableMemtables?: number;
  /** Block cache budget in bytes of uncompressed blocks; 0 disables it. Default 32 MiB. */
  blockCacheBytes?: number;
  /** Table files kept open at once. Default 500. */
  maxOpenFiles?: number;
  /** Uncompressed size a data block is cut at, in bytes. Default 4096. */
  blockBytes?: number;
  /** Per-block compression of new tables. Default 'lz4'. */
  compression?: 'lz4' | 'none';
  /** Bloom filter bits per key; 0 disables filters. Default 10. */
  bloomBitsPerKey?: number;
  /** Default for a write's `sync` option. Default false. */
  sync?: boolean;
  /**
   * What opening does with a damaged WAL: 'tolerate-tail' (default) drops a torn tail of the
   * newest WAL and fails on anything else; 'strict' fails on any damage, a torn tail included;
   * 'salvage' skips damaged records, reporting each through onRecoverySkip.
   */
  walRecovery?: WalRecoveryMode;
  /** Level-0 files that start a compaction into level 1. Default 4. */
  l0CompactionTrigger?: number;
  /** Level-0 files at which each write group is delayed by 1 ms. Default 20. */
  l0SlowdownTrigger?: number;
  /** Level-0 files at which writes wait for compaction. Default 36. */
  l0StopTrigger?: number;
  /** Target bytes of level 1. Default 64 MiB. */
  levelBaseBytes?: number;
  /** Each level below level 1 targets this many times the level above. Default 10. */
  levelMultiplier?: number;
  /** Compaction output files are cut at about this many bytes. Default 32 MiB. */
  targetFileBytes?: number;
  /**
   * Worker threads that run flushes and compactions; 0 runs them on the main thread. Default:
   * the machine's parallelism minus one, at least 2 (so that a flush never waits behind a
   * compaction) and at most 4.
   */
  compactionWorkers?: number;
  /**
   * How much WAL each shard keeps past its flush for the change feed (db.changes()), besides
   * what open feeds are reading: the newest released logs, while together they are at most
   * `bytes` (default 64 MiB: about one memtable's worth of writes) and each was released at
   * most `ms` ago (default 10 minutes; a reopen counts from the open). A feed's own logs are
   * kept while it is open, beyond this window. { bytes: 0 } keeps nothing but what feeds read.
   */
  changeRetention?: { bytes?: number; ms?: number };
  /** Called for every byte range that salvage skipped. */
  onRecoverySkip?: (file: string, offset: number, bytes: number, reason: string) => void;
  /** The file system; the real one by default. Tests inject faults through it. */
  fs?: FileSystem;
}

export interface ResolvedOptions {
  createIfMissing: boolean;
  errorIfExists: boolean;
  memtableBytes: number;
  maxImmutableMemtables: number;
  blockCacheBytes: number;
  maxOpenFiles: number;
  blockBytes: number;
  compression: 'lz4' | 'none';
  bloomBitsPerKey: number;
  sync: boolean;
  walRecovery: WalRecoveryMode;
  changeRetention: { bytes: number; ms: number };
  onRecoverySkip: ((file: string, offset: number, bytes: number, reason: string) => void) | undefined;
  fs: FileSystem;
  l0CompactionTrigger: number;
  l0SlowdownTrigger: number;
  l0StopTrigger: number;
  levelBaseBytes: number;
  levelMultiplier: number;
  targetFileBytes: number;
  compactionWorkers: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

const KNOWN = new Set<string>([
  'createIfMissing', 'errorIfExists', 'memtableBytes', 'maxImmutableMemtables', 'blockCacheBytes', 'maxOpenFiles',
  'blockBytes', 'compression', 'bloomBitsPerKey', 'sync', 'walRecovery', 'onRecoverySkip', 'fs',
  'l0CompactionTrigger', 'l0SlowdownTrigger', 'l0StopTrigger', 'levelBaseBytes', 'levelMultiplier', 'targetFileBytes',
  'compactionWorkers', 'changeRetention',
]);

const CHANGE_RETENTION_OPTIONS = new Set(['bytes', 'ms']);

function changeRetention(options: Record<string, unknown>): { bytes: number; ms: number } {
  const v = options['changeRetention'] ?? {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalidArgument('option changeRetention must be an object { bytes, ms }');
  const o = v as Record<string, unknown>;
  for (const name of Object.keys(o)) if (!CHANGE_RETENTION_OPTIONS.has(name)) throw invalidArgument(`unknown option changeRetention.${name}`);
  const max = Number.MAX_SAFE_INTEGER;
  return { bytes: int(o, 'bytes', 64 * MiB, 0, max), ms: int(o, 'ms', 10 * 60 * 1000, 0, max) };
}

function int(options: Record<string, unknown>, name: string, fallback: number, min: number, max: number): number {
  const v = options[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalidArgument(`option ${name} must be an integer from ${min} to ${max}, got ${String(v)}`);
  }
  return v;
}

function bool(options: Record<string, unknown>, name: string, fallback: boolean): boolean {
  const v = options[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw invalidArgument(`option ${name} must be a boolean, got ${typeof v}`);
  return v;
}

function oneOf<T extends string>(options: Record<string, unknown>, name: string, fallback: T, allowed: readonly T[]): T {
  const v = options[name];
  if (v === undefined) return fallback;
  if (!allowed.includes(v as T)) throw invalidArgument(`option ${name} must be one of ${allowed.join(', ')}, got ${String(v)}`);
  return v as T;
}

/** The methods every FileSystem has (the optional ones of WritableFile are not here). */
const FILE_SYSTEM_METHODS = [
  'createWritable', 'openReadable', 'readFile', 'rename', 'unlink', 'syncDir', 'syncFile', 'mkdir', 'readdir', 'exists', 'lock',
] as const satisfies readonly (keyof FileSystem)[];

function checkFileSystem(fs: unknown): void {
  if (typeof fs !== 'object' || fs === null) throw invalidArgument('option fs must be a FileSystem object');
  const missing = FILE_SYSTEM_METHODS.filter((m) => typeof (fs as Record<string, unknown>)[m] !== 'function');
  if (missing.length > 0) throw invalidArgument(`option fs is not a FileSystem: it has no ${missing.join(', ')}`);
}

/** Validates every option (INVALID_ARGUMENT on any unknown name or out-of-range value). */
export function resolveOptions(input: unknown, extraKnown: readonly string[] = []): ResolvedOptions {
  if (input === undefined || input === null) input = {};
  if (typeof input !== 'object' || Array.isArray(input)) throw invalidArgument('options must be an object');
  const o = input as Record<string, unknown>;
  for (const name of Object.keys(o)) {
    if (!KNOWN.has(name) && !extraKnown.includes(name)) throw invalidArgument(`unknown option ${name}`);
  }
  const fs = o['fs'];
  if (fs !== undefined) checkFileSystem(fs);
  const onSkip = o['onRecoverySkip'];
  if (onSkip !== undefined && typeof onSkip !== 'function') throw invalidArgument('option onRecoverySkip must be a function');
  const l0CompactionTrigger = int(o, 'l0CompactionTrigger', 4, 1, 1000);
  const l0SlowdownTrigger = int(o, 'l0SlowdownTrigger', Math.max(20, l0CompactionTrigger), l0CompactionTrigger, 10_000);
  const l0StopTrigger = int(o, 'l0StopTrigger', Math.max(36, l0SlowdownTrigger), l0SlowdownTrigger, 10_000);
  return {
    l0CompactionTrigger,
    l0SlowdownTrigger,
    l0StopTrigger,
    levelBaseBytes: int(o, 'levelBaseBytes', 64 * MiB, 64 * KiB, 1024 * GiB),
    levelMultiplier: int(o, 'levelMultiplier', 10, 2, 100),
    targetFileBytes: int(o, 'targetFileBytes', 32 * MiB, 64 * KiB, 4 * GiB),
    compactionWorkers: int(o, 'compactionWorkers', Math.min(4, Math.max(2, os.availableParallelism() - 1)), 0, 64),
    createIfMissing: bool(o, 'createIfMissing', true),
    errorIfExists: bool(o, 'errorIfExists', false),
    memtableBytes: int(o, 'memtableBytes', 64 * MiB, 64 * KiB, 2 * GiB),
    maxImmutableMemtables: int(o, 'maxImmutableMemtables', 2, 1, 64),
    blockCacheBytes: int(o, 'blockCacheBytes', 32 * MiB, 0, 64 * GiB),
    maxOpenFiles: int(o, 'maxOpenFiles', 500, 8, 1_000_000),
    blockBytes: int(o, 'blockBytes', 4 * KiB, 256, 4 * MiB),
    compression: oneOf(o, 'compression', 'lz4', ['lz4', 'none'] as const),
    bloomBitsPerKey: int(o, 'bloomBitsPerKey', 10, 0, 64),
    sync: bool(o, 'sync', false),
    changeRetention: changeRetention(o),
    walRecovery: oneOf(o, 'walRecovery', 'tolerate-tail', ['tolerate-tail', 'strict', 'salvage'] as const),
    onRecoverySkip: onSkip as ResolvedOptions['onRecoverySkip'],
    fs: (fs as FileSystem | undefined) ?? new NodeFileSystem(),
  };
}
