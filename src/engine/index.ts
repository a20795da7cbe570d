// src/engine: one shard's engine. Other folders import from here only.
export { Engine, memoryTotal, type EngineStats, type MemoryStats } from './engine.js';
export { DbIterator, type Bounds, type Cursor } from './db-iterator.js';
export { OPTION_NAMES, resolveOptions, type EngineOptions, type ResolvedOptions, type WalRecoveryMode } from './options.js';
export { SequenceClock } from './sequence-clock.js';
export { lowest, ShardPublication, type Cut } from './shard-publication.js';
export { SyncRounds } from './sync-rounds.js';
export type { EngineHooks } from './engine.js';
export type { TwoPhaseHooks, TwoPhaseParticipant, TwoPhaseScan } from './two-phase-participant.js';
export { decodeCommit, decodePrepare, isPrepare } from './two-phase-format.js';
export { ChangeLog, ShardCursor, CHANGE_CHUNK_BYTES, type ShardRecord, type CommitSeen } from './change-log.js';
export { CopyArena } from './change-ring.js';
export { writeShardCheckpoint, linkOrCopy, copyFile, type CheckpointView, type ShardCheckpoint } from './checkpoint.js';
export { ingestEdit, ingestLevel, type IngestHost } from './ingest.js';
