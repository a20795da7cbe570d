// A user-defined merge operator for the tests, loaded by URL (option mergeOperator
// { module, export }) on the main thread and in the compaction worker threads. It joins the
// operands with ',' in the order applied, so a test sees any operand out of order, lost or
// doubled. Each worker thread that loads it, and each partialMerge it runs there, adds a line
// to the file named by MERGE_FIXTURE_LOG (when set): the proof that the workers ran it.
import { appendFileSync } from 'node:fs';
import { isMainThread, threadId } from 'node:worker_threads';

const log = process.env['MERGE_FIXTURE_LOG'];
const note = (line: string) => {
  if (log !== undefined && !isMainThread) appendFileSync(log, `${line} ${threadId}\n`);
};
note('loaded');

const join = (parts: readonly Uint8Array[]) => Buffer.from(parts.map((p) => Buffer.from(p).toString()).join(','));

export const concat = {
  name: 'concat',
  fullMerge(_key: Uint8Array, existing: Uint8Array | undefined, operands: readonly Uint8Array[]): Uint8Array {
    return join(existing === undefined ? operands : [existing, ...operands]);
  },
  partialMerge(_key: Uint8Array, operands: readonly Uint8Array[]): Uint8Array {
    note('partial');
    return join(operands);
  },
};

/** The same, unable to fold: compaction must keep every operand. */
export const concatNoFold = {
  name: 'concat',
  fullMerge: concat.fullMerge,
  partialMerge(): undefined {
    return undefined;
  },
};

export const notAnOperator = { name: 'broken' };
