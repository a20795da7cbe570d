// stratadb: an embedded log-structured key-value store.
export {
  open,
  Database,
  type OpenOptions,
  type ReadOptions,
  type IteratorOptions,
  type DatabaseStats,
  type ChangesOptions,
  type Change,
  type ChangeOp,
  type Entry,
} from './database.js';
export { Transaction, type TransactionOptions, type TransactionIteratorOptions } from './transaction.js';
export { DatabaseIterator } from './iterator.js';
export { Snapshot } from './snapshot.js';
export { MAX_KEY_BYTES, MAX_VALUE_BYTES, type Key, type Value, type BatchOperation, type BatchOperationLike, type WriteOptions, type ConditionalWriteOptions, type WriteConditions, type RangeOptions, type PutOptions } from './input.js';
export { StrataError, type ErrorCode } from './base/errors.js';
export { NodeFileSystem, type FileSystem, type WritableFile, type RandomAccessFile, type FileLock } from './base/fs.js';
export type { WalRecoveryMode } from './engine/index.js';
export { nativeStatus, type NativeStatus, type NativeCallName } from './base/native.js';
