// src/wal: framed, checksummed log files — the write-ahead log, and the MANIFEST, which is
// framed the same way. The only import surface of this folder; the byte layout stays private
// to record-format.ts.

import type { FileSystem } from '../base/index.js';
import { readLog, type LogReadOptions, type LogReadResult } from './log-reader.js';

export { LogWriter, WAL_ALLOCATION_UNIT, WAL_PREALLOCATE_BYTES, WAL_PREALLOCATE_MIN_BYTES, type LogWriterOptions } from './log-writer.js';
export { readLog, type LogReadMode, type LogReadOptions, type LogReadResult, type LogRecord } from './log-reader.js';
export { RecordType, MAX_RECORD_PAYLOAD_BYTES, forEachFramedRecord, FramedRecordWalk } from './record-format.js';
export { RecordBuffer } from './record-buffer.js';
export { LogTail, type TailRead, type TailRecord } from './log-tail.js';
export { WalSet, type WalPin, type WalRetention, type RetainedLogs } from './wal-set.js';

/** Reads all of `path` through `fs` and parses it with readLog. */
export async function readLogFile(fs: FileSystem, path: string, options: LogReadOptions): Promise<LogReadResult> {
  return readLog(await fs.readFile(path), path, options);
}
