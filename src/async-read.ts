// The asynchronous form of a point read (Database.get, getEntry): the lookup itself is
// synchronous, as getSync()'s, but a block of megabytes is read off the event loop's thread
// (src/sstable/large-blocks.ts says how), and the promise settles on a turn of the loop when
// reads have held it long enough (loop-turns.ts).

import type { SeqNum } from './base/index.js';
import { BlockDeferred, type BlockDeferredResult, type LargeBlocks } from './sstable/index.js';
import type { LoopTurns } from './loop-turns.js';

export interface AsyncReadHost {
  /** Pins `seq` until the returned release is called. */
  pin(seq: SeqNum): () => void;
  turns: LoopTurns;
}

/**
 * Runs `lookup`, a read at `seq`, with large blocks deferred: when it needs one, pins `seq`,
 * loads the block and runs `lookup` again with it at hand, until it needs none.
 */
export function readAsync<T>(host: AsyncReadHost, large: LargeBlocks, seq: SeqNum, lookup: () => T): Promise<T> {
  let value: T;
  try {
    value = large.runDeferring([], lookup);
  } catch (err) {
    return err instanceof BlockDeferred ? readDeferred(large, err, lookup, host.pin(seq)) : Promise.reject(err);
  }
  return host.turns.settle(value);
}

async function readDeferred<T>(large: LargeBlocks, first: BlockDeferred, lookup: () => T, release: () => void): Promise<T> {
  const blocks: BlockDeferredResult[] = [];
  let deferred = first;
  try {
    for (;;) {
      blocks.push({ fileNumber: deferred.fileNumber, blockNumber: deferred.blockNumber, block: await deferred.load });
      try {
        return large.runDeferring(blocks, lookup);
      } catch (err) {
        if (!(err instanceof BlockDeferred)) throw err;
        deferred = err;
      }
    }
  } finally {
    release();
  }
}
