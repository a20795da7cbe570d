/**
 * SyncRounds: the shards of a database start their synced groups in rounds, within a bound.
 *
 * Why. A device flush (and a journal commit) serves the fdatasync calls in flight together;
 * a call made while one runs waits for it, then for one more. Shards whose writers are
 * answered by their own shard drift apart: a writer answered by one shard finds its next shard
 * in the middle of a sync and waits for the rest of it, then for its own (measured with 4
 * shards and 256 synced writers: groups of 38 writes where one global order, answering
 * everyone together, made groups of 63). In rounds, every shard with a synced group ready
 * starts it in the same turn of the event loop, and one ready later waits for the round to
 * end, its group taking more writes meanwhile.
 *
 * Invariants:
 * 1. A round opens when a synced group starts while none is in flight; it takes every synced
 *    group that starts before the event loop turns, then closes.
 * 2. A synced group that would start while a closed round is in flight waits until every sync
 *    of that round ended, or until the round has run twice as long as rounds take (their
 *    moving average; at least 1 ms): a shard whose sync is slow holds the others' for a
 *    bounded time only. Then every group waiting starts.
 * 3. Only the start of a sync waits: answers and publication stay each shard's own
 *    (ShardPublication), and groups without a sync never wait.
 */

export class SyncRounds {
  /** Syncs started and not yet ended. */
  #inFlight = 0;
  /** Whether the current round still takes syncs (until the event loop turns). */
  #open = false;
  #roundStartMs = 0;
  /** Moving average of how long a round takes, ms. */
  #typicalMs = 0;
  #waiting: (() => void)[] = [];
  #timer: NodeJS.Timeout | undefined;

  /**
   * Called before a synced group starts: undefined when it may start now, else a promise that
   * resolves when it may (invariant 2). Every start must be followed by one end().
   */
  start(): Promise<void> | undefined {
    if (this.#inFlight === 0 || this.#open) {
      this.#join();
      return undefined;
    }
    const turn = new Promise<void>((resolve) => this.#waiting.push(resolve));
    if (this.#timer === undefined) {
      const dueMs = this.#roundStartMs + 2 * this.#typicalMs - performance.now();
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#release();
      }, Math.max(1, dueMs));
    }
    return turn;
  }

  /** Called once the synced group's append and sync ended, done or failed. */
  end(): void {
    this.#inFlight--;
    if (this.#inFlight > 0) return;
    const tookMs = performance.now() - this.#roundStartMs;
    this.#typicalMs = this.#typicalMs === 0 ? tookMs : 0.8 * this.#typicalMs + 0.2 * tookMs;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#release();
  }

  #release(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const go of waiting) {
      this.#join();
      go();
    }
  }

  #join(): void {
    if (this.#inFlight === 0 && !this.#open) {
      this.#open = true;
      this.#roundStartMs = performance.now();
      setImmediate(() => (this.#open = false));
    }
    this.#inFlight++;
  }
}
