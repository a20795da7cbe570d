// The asynchronous form of a point read (Database.get, getEntry, getInto): the lookup itself is
// synchronous, as getSync()'s, but a block of megabytes is read, and a table not yet open is
// opened, off the event loop's thread (src/sstable/large-blocks.ts and table-cache.ts say
// how), and the promise settles on a turn of the loop when reads have held it long enough
// (loop-turns.ts).

import type { Cut } from './shard/index.js';
import { BlockDeferred, type BlockDeferredResult, type LargeBlocks, type ReadTarget } from './sstable/index.js';
import type { LoopTurns } from './base/loop-turns.js';
import { native } from './base/native.js';

export interface AsyncReadHost {
  /** Pins `cut` until the returned release is called. */
  pin(cut: Cut): () => void;
  turns: LoopTurns;
}

/**
 * Runs `lookup`, a read at `cut`, with large blocks and table opens deferred: when it needs
 * one, pins `cut`, loads the block (or opens the table) and runs `lookup` again with it at
 * hand, until it needs none. `target`: getInto's, lent to a large block (large-blocks.ts).
 */
export function readAsync<T>(host: AsyncReadHost, large: LargeBlocks, cut: Cut, lookup: () => T, target?: ReadTarget): Promise<T> {
  const turn = host.turns.pending;
  if (turn !== undefined) return readAfterTurns(host, large, cut, lookup, turn, target);
  let value: T;
  try {
    value = large.runDeferring([], lookup, target);
  } catch (err) {
    return err instanceof BlockDeferred ? readDeferred(large, err, lookup, host.pin(cut), host.turns, target) : Promise.reject(err);
  }
  return host.turns.settle(value);
}

/**
 * readAsync() called while the event loop is due a turn: the lookup waits (its cut pinned)
 * until the loop has turned and no turn is due, so that reads issued back to back do not run
 * past the budget, each with only its promise held back.
 */
async function readAfterTurns<T>(host: AsyncReadHost, large: LargeBlocks, cut: Cut, lookup: () => T, turn: Promise<void>, target: ReadTarget | undefined): Promise<T> {
  const release = host.pin(cut);
  try {
    for (let t: Promise<void> | undefined = turn; t !== undefined; t = host.turns.pending) await t;
    return await readAsync(host, large, cut, lookup, target);
  } finally {
    release();
  }
}

/**
 * readAsync() for many keys at one cut: `lookup(key)` for each, in order, in one
 * promise. Pins `cut` from the first wait on (a large block, or a turn of the event loop given
 * to a long list) until the end.
 */
export async function readManyAsync<T>(host: AsyncReadHost, keys: readonly Uint8Array[], cut: Cut, largeOf: (key: Uint8Array) => LargeBlocks, lookup: (key: Uint8Array) => T): Promise<T[]> {
  const out = new Array<T>(keys.length);
  let release: (() => void) | undefined;
  try {
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const large = largeOf(key);
      try {
        out[i] = large.runDeferring([], () => lookup(key));
      } catch (err) {
        if (!(err instanceof BlockDeferred)) throw err;
        release ??= host.pin(cut);
        out[i] = await readDeferred(large, err, () => lookup(key), () => {}, host.turns, undefined);
      }
      const turn = host.turns.due();
      if (turn !== undefined) {
        release ??= host.pin(cut);
        await turn;
      }
    }
    return out;
  } finally {
    release?.();
  }
}

/**
 * Runs `lookup` again once what it waited for is loaded, until it needs nothing more. Reads
 * that waited for the same table to open all resume at once: each looks first whether the
 * event loop is due a turn (LoopTurns), so that they do not run back to back for longer than
 * reads that never waited would.
 */
async function readDeferred<T>(large: LargeBlocks, first: BlockDeferred, lookup: () => T, release: () => void, turns: LoopTurns, target: ReadTarget | undefined): Promise<T> {
  const blocks: BlockDeferredResult[] = [];
  let deferred = first;
  try {
    for (;;) {
      const block = await deferred.load;
      const turn = turns.due();
      if (turn !== undefined) await turn;
      if (block !== undefined) blocks.push({ fileNumber: deferred.fileNumber, blockNumber: deferred.blockNumber, block });
      try {
        return large.runDeferring(blocks, lookup, target);
      } catch (err) {
        if (!(err instanceof BlockDeferred)) throw err;
        deferred = err;
      }
    }
  } finally {
    release();
  }
}

/**
 * getInto's last step for a value read with its block into the target (large-blocks.ts):
 * target[at, at + length) moved to target's start, on the thread pool where the addon can
 * (64 MiB took about 4 ms of the event loop's thread here). Resolves to `length`.
 */
export async function moveToStart(target: Uint8Array, at: number, length: number): Promise<number> {
  if (native.moveWithinAsync !== undefined) await native.moveWithinAsync(target, at, length);
  else target.copyWithin(0, at, at + length);
  return length;
}
