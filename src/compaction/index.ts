// src/compaction: choosing compactions (picker) and running them off the main thread (job,
// worker, pool). Other folders import from here only.
export { runCompaction, type CompactionJob, type CompactionResult } from './job.js';
export { CompactionPool } from './pool.js';
export { CompactionPicker, levelScores, levelTargetBytes, pendingCompactionBytes, type CompactionPolicy, type PickedCompaction } from './picker.js';
