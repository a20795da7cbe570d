// Micro-benchmark: WAL record encoding on the commit path (a batch encoded straight into the
// group's RecordBuffer and framed with its two xxh32 checksums) and decoding on recovery
// (readLog over a log of such records).
//
//   node dist/bench/micro/wal.js [--time ms]

import { batchEncodedLength, decodeBatch, encodeBatchInto, loadChecksum, ValueKind, type BatchEntry } from '../../src/base/index.js';
import { readLog, RecordBuffer, RecordType } from '../../src/wal/index.js';
// The file header is private to the WAL's format owner; the bench reads it from there.
import { LOG_FILE_HEADER } from '../../src/wal/record-format.js';
import { halfCompressible, randomKeys, runMicro } from './harness.js';

await loadChecksum();

const PER_CALL = 1000;
const keys = randomKeys(PER_CALL, 16);
const value = halfCompressible(100);
const singles: BatchEntry[][] = keys.map((key) => [{ kind: ValueKind.Put, key, value }]);
const batch1000: BatchEntry[] = keys.map((key) => ({ kind: ValueKind.Put, key, value }));

function frame(batches: readonly BatchEntry[][]): Uint8Array {
  const records = new RecordBuffer();
  let seq = 1;
  for (const entries of batches) {
    const at = records.begin(batchEncodedLength(entries));
    encodeBatchInto(records.bytes, at, seq, entries);
    records.seal(RecordType.Batch);
    seq += entries.length;
  }
  return records.finish();
}

// A log file: its header, then a group of 1,000 one-put records.
const group = frame(singles);
const log = new Uint8Array(LOG_FILE_HEADER.length + group.length);
log.set(LOG_FILE_HEADER);
log.set(group, LOG_FILE_HEADER.length);

await runMicro('wal: records of one put (16-byte key, 100-byte value), and of a batch of 1,000', [
  { name: 'frame 1,000 one-put records', opsPerCall: PER_CALL, bytesPerCall: group.length, fn: () => void frame(singles) },
  { name: 'frame one 1,000-put record', opsPerCall: PER_CALL, bytesPerCall: group.length, fn: () => void frame([batch1000]) },
  {
    name: 'read and decode 1,000 one-put records',
    opsPerCall: PER_CALL,
    bytesPerCall: log.length,
    fn: () => {
      const result = readLog(log, 'bench.log', { mode: 'strict' });
      if (result.records.length !== PER_CALL) throw new Error(`read ${result.records.length} records`);
      for (const record of result.records) decodeBatch(record.payload);
    },
  },
]);
