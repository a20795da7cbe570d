// src/compaction: choosing compactions (picker, tombstone-coverage) and running them and
// flushes off the main thread (job, flush-job, worker, pool). Other folders import from here only.
export { compactTables, outputFilesToReserve, type CompactionJob, type CompactionResult } from './job.js';
export { BackgroundPool, type Job } from './pool.js';
export { writeTable, writeMemtable, flushMemtable, type FlushJob, type FlushResult } from './flush-job.js';
export {
  CompactionPicker,
  levelScores,
  levelTargetBytes,
  pendingCompactionBytes,
  type CompactionPolicy,
  type CoveredBytesEstimate,
  type PickedCompaction,
} from './picker.js';
export { approximateBytesIn, coveredBytesBelow } from './tombstone-coverage.js';
export { filesInRange, subcompactionCuts } from './subcompactions.js';
export { buildIngestTable, type IngestJob, type IngestResult } from './ingest-job.js';
