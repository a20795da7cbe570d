// Gives the event loop a turn during long runs of work that settles on the microtask queue:
// reads the engine serves from memory (the database's LoopTurns), and groups of writes whose
// small appends are written in the call (each CommitPipeline's). A caller that awaits 200,000
// gets (or a `for await` over 200,000 entries, or 200,000 puts) back to back would otherwise
// never let a timer or an I/O callback run. Below, "reads" stands for either.
//
// A run starts with the first read after the loop last turned: it notes the time and schedules
// a marker (at most one pending); when the marker runs, the loop has turned and the run is
// over. A read that finds the run older than TURN_BUDGET_MS settles its promise from the marker
// instead of at once, and so does every read after it until the marker runs: the microtask
// queue drains, timers and I/O get their turn, then the reads go on. The marker is two
// setImmediates, the second scheduled by the first: one alone runs in the check phase of the
// loop's iteration under way, and a run begun in a timer or an I/O callback (before that check
// phase) then went on past the timers phase, so that a due timer waited for a second run (the
// bench's getloop: its timer fired 177–180 times a second with one, 210–227 with two, and waited
// at most 14.6–28.2 ms against 13.4–19.1, six runs each). A timer is thereby late by about
// TURN_BUDGET_MS at most (plus the reads between two looks at the clock); the cost is two
// setImmediates per TURN_BUDGET_MS of reading and a look at the clock every few reads
// (CLOCK_EVERY; performance.now() costs 60–90 ns here).
//
// A read does its work when it is called and only its promise waits for the turn, so callers
// with many reads in flight (256 awaited gets, each issuing the next when it settles) would
// still run one more read each after the run went over budget; read paths therefore look at
// `pending` first and, while a turn is due, wait for it before they do any work.
//
// One per user (a database's reads, a shard's commit pipeline): nothing here is shared.

/** Resolves after a turn of the event loop (a setImmediate): timers and I/O run first. */
export function nextTurn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

/** How long reads may hold the event loop before they let it turn. */
export const TURN_BUDGET_MS = 5;
/**
 * Reads between two looks at the clock, by default: for a database's reads READ_CLOCK_EVERY.
 * A read is a few µs while the pages it touches are in memory, but the first touch of a mapped
 * table's page the page cache lacks is a disk read on this thread (a reopened database after a
 * reboot: 2–6 ms a get here for its first dozen gets), and 32 of those before a look held the
 * loop 35–42 ms; looking every 4th read, 20–21 ms (two runs each on a tree dropped from the page
 * cache). Warm, the looks cost nothing measurable (200,000 awaited get()s on the settled 1M-key
 * tree: 309k–324k gets/s either way).
 */
const CLOCK_EVERY = 32;
export const READ_CLOCK_EVERY = 4;

export class LoopTurns {
  /** Reads between two looks at the clock. */
  readonly #clockEvery: number;
  /** Whether a marker is pending: a run of reads is under way. */
  #watching = false;
  /** When the run began (performance.now()). */
  #since = 0;
  /** Reads since the clock was last looked at (weighted: due()'s `reads`). */
  #reads = 0;
  /** The turn reads wait for once the run is over budget, and what settles it. */
  #turn: Promise<void> | undefined;
  #endTurn: (() => void) | undefined;
  /** The marker's first half, run in a check phase: the second runs in the next iteration's, after its timers. */
  readonly #afterCheck = () => setImmediate(this.#turned);
  readonly #turned = () => {
    this.#watching = false;
    const end = this.#endTurn;
    this.#turn = undefined;
    this.#endTurn = undefined;
    end?.();
  };

  constructor(clockEvery = CLOCK_EVERY) {
    this.#clockEvery = clockEvery;
  }

  /**
   * Undefined to settle at once, or the turn of the event loop to settle after. `reads`: how
   * many reads the caller did since it last asked (an iterator's nextv() of 1,000 entries is
   * 1,000, a commit group of 1,000 writes too): the clock is looked at every `clockEvery` reads,
   * so that a caller doing much per call does not go that many calls without a look.
   */
  due(reads = 1): Promise<void> | undefined {
    if (!this.#watching) {
      this.#watching = true;
      this.#since = performance.now();
      this.#reads = 0;
      setImmediate(this.#afterCheck);
      return undefined;
    }
    if (this.#turn !== undefined) return this.#turn;
    this.#reads += reads;
    if (this.#reads < this.#clockEvery) return undefined;
    this.#reads = 0;
    if (performance.now() - this.#since < TURN_BUDGET_MS) return undefined;
    return (this.#turn = new Promise((resolve) => (this.#endTurn = resolve)));
  }

  /** The turn due, while a run of reads is over budget (work should wait for it); else undefined. */
  get pending(): Promise<void> | undefined {
    return this.#turn;
  }

  /** `value`, settled at once or after the turn due. */
  settle<T>(value: T): Promise<T> {
    const turn = this.due();
    return turn === undefined ? Promise.resolve(value) : turn.then(() => value);
  }
}
