// src/shard: a database as hash-partitioned engines. Other folders import from here only.
export { ShardSet, type ShardedStats } from './shard-set.js';
export { lowest, type Cut } from '../engine/index.js';
export { shardOf, Placement } from './router.js';
export { MAX_SHARDS, readShardsFile, shardFolders, type ShardLayout } from './shards-file.js';
export { reshard, type ReshardOptions, type ReshardResult } from './reshard.js';
export { ChangeFeed, type BatchChange, type Change, type ChangeOp, type FeedOptions } from './change-feed.js';
export { keyString, type TrackedRange, type WriteTracker } from './write-tracker.js';
export type { CheckpointResult } from './checkpoint.js';
export type { IngestPair, IngestResult, PairOf } from './ingest.js';
