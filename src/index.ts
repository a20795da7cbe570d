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
export { listBackups, restoreBackup, purgeOldBackups, type BackupInfo, type BackupResult, type BackupFile, type BackupToolOptions } from './backup.js';
export { reshard, type ReshardOptions, type ReshardResult } from './reshard.js';
export { Transaction, type TransactionOptions, type TransactionIteratorOptions } from './transaction.js';
export { DatabaseIterator } from './iterator.js';
export { compareTuples, type Codec, type Encoding, type EncodingName, type Tuple, type TupleElement, type DecodedChange } from './encoding.js';
export { Snapshot } from './snapshot.js';
export { MAX_KEY_BYTES, MAX_VALUE_BYTES, type Key, type Value, type Operand, type BatchOperation, type BatchOperationLike, type WriteOptions, type ConditionalWriteOptions, type WriteConditions, type RangeOptions, type PutOptions } from './input.js';
export { StrataError, type ErrorCode } from './base/errors.js';
export { NodeFileSystem, type FileSystem, type WritableFile, type RandomAccessFile, type FileLock } from './base/fs.js';
export type { WalRecoveryMode } from './engine/index.js';
export { nativeStatus, type NativeStatus, type NativeCallName } from './base/native.js';
