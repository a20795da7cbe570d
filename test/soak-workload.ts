// The soak run of test/soak.test.ts, in a worker thread watched by test/watchdog.ts (see
// soak.test.ts for what it checks).
//
// Each writer owns its keys and writes each of them one call at a time, so what a key must
// hold is exact: its last acknowledged write. Values name their key and version
// ("w3/17#42|filler"), so a value read names the write it came from.

import { open, StrataError, type Database, type ErrorCode } from '../src/index.js';
import { makeTempDir, removeDir, Rng, show } from './helpers.js';
import { workload } from './watchdog.js';

export interface SoakData {
  seed: number;
  seconds: number;
  shards: number;
}

const WRITERS = 8;
const KEYS_PER_WRITER = 40;
const READERS = 3;
const CALL_DEADLINE_MS = 15_000;
/** The longest the 5 ms timer may wait for its turn. */
const MAX_LOOP_GAP_MS = 2_000;
const DOCUMENTED: readonly ErrorCode[] = ['INVALID_ARGUMENT', 'CLOSED', 'LOCKED', 'CORRUPTION', 'IO_ERROR', 'NOT_SUPPORTED', 'NOT_FOUND'];

/** What one key has been given: versions in the order issued, and how many of them were acknowledged. */
interface KeyState {
  /** Per version: the value, or undefined for a delete. */
  versions: (Buffer | undefined)[];
  /** Versions below this were acknowledged. */
  ackedBelow: number;
}

function valueOf(key: string, version: number, rng: Rng): Buffer {
  const filler = rng.chance(0.02) ? rng.range(50_000, 150_000) : rng.range(10, 1500);
  return Buffer.concat([Buffer.from(`${key}#${version}|`), rng.bytes(filler)]);
}

/** The version a value names, or -1. */
function versionOf(value: Buffer): number {
  const m = /#(\d+)\|/.exec(value.subarray(0, 40).toString('latin1'));
  return m ? Number(m[1]) : -1;
}

class Soak {
  readonly rng: Rng;
  db!: Database;
  readonly keys = new Map<string, KeyState>();
  stopping = false;
  closing = false;
  longestGapMs = 0;
  readonly counts = { writes: 0, syncWrites: 0, batches: 0, reads: 0, scans: 0, flushes: 0, compactions: 0, lingeringReads: 0 };

  constructor(
    readonly data: SoakData,
    readonly dir: string,
    readonly progress: (line: string) => void,
  ) {
    this.rng = new Rng(data.seed);
    for (let w = 0; w < WRITERS; w++) for (let k = 0; k < KEYS_PER_WRITER; k++) this.keys.set(`w${w}/${k}`, { versions: [], ackedBelow: 0 });
  }

  get options() {
    return { shards: this.data.shards, memtableBytes: 65536, l0CompactionTrigger: 2, levelBaseBytes: 256 * 1024, targetFileBytes: 64 * 1024, compactionWorkers: 1 } as const;
  }

  /** The calls under a deadline not yet settled, and since when (a hung one names the others). */
  readonly #pending = new Map<number, { what: string; since: number }>();
  #nextCall = 0;

  /** `p` under the deadline; an error must be a StrataError of a documented code (and `allowed`, when given). */
  async within<T>(p: Promise<T>, what: string, allowed: readonly ErrorCode[] = []): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const id = this.#nextCall++;
    this.#pending.set(id, { what, since: performance.now() });
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const now = performance.now();
        const others = [...this.#pending].filter(([other]) => other !== id).map(([, c]) => `${c.what} (${Math.round(now - c.since)} ms)`);
        reject(new Error(`hung: ${what} did not settle within ${CALL_DEADLINE_MS} ms (the event loop kept turning); calls pending then: ${others.join(', ') || 'none'}`));
      }, CALL_DEADLINE_MS);
    });
    try {
      return await Promise.race([p, deadline]);
    } catch (err) {
      if (err instanceof StrataError && DOCUMENTED.includes(err.code) && allowed.includes(err.code)) throw err;
      if (err instanceof StrataError && DOCUMENTED.includes(err.code)) throw new Error(`${what} failed with ${err.code}: ${err.message}`);
      throw new Error(`${what} failed with ${String((err as Error)?.stack ?? err)}, not a StrataError of a documented code`);
    } finally {
      clearTimeout(timer);
      this.#pending.delete(id);
    }
  }

  /**
   * Checks what a read of `key` gave against what it may hold: its last write acknowledged when
   * the read was called (`ackedBelow` then), or a write issued after that one.
   */
  check(key: string, got: Buffer | undefined, what: string, ackedBelow = this.keys.get(key)!.ackedBelow): void {
    const s = this.keys.get(key)!;
    const allowed = [ackedBelow === 0 ? undefined : s.versions[ackedBelow - 1]];
    for (let v = ackedBelow; v < s.versions.length; v++) allowed.push(s.versions[v]);
    const ok = allowed.some((v) => (v === undefined ? got === undefined : got !== undefined && got.equals(v)));
    if (!ok) {
      throw new Error(`${what}: ${key} holds ${got === undefined ? 'nothing' : `version ${versionOf(got)} ${show(got)}`}; version ${ackedBelow - 1} was acknowledged before the read, ${s.versions.length} issued`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // The actors

  async writer(w: number): Promise<void> {
    const rng = new Rng(this.data.seed * 1000 + w);
    while (!this.stopping) {
      const sync = rng.chance(0.1);
      if (rng.chance(0.2)) {
        const keys = new Set<string>();
        for (let i = rng.range(2, 6); i > 0; i--) keys.add(`w${w}/${rng.int(KEYS_PER_WRITER)}`);
        const ops = [...keys].map((key) => {
          const s = this.keys.get(key)!;
          const value = rng.chance(0.15) ? undefined : valueOf(key, s.versions.length, rng);
          s.versions.push(value);
          return value ? { type: 'put' as const, key, value } : { type: 'del' as const, key };
        });
        await this.within(this.db.batch(ops, { sync }), `batch of ${ops.length} by writer ${w}`);
        for (const key of keys) this.keys.get(key)!.ackedBelow = this.keys.get(key)!.versions.length;
        this.counts.batches++;
      } else {
        const key = `w${w}/${rng.int(KEYS_PER_WRITER)}`;
        const s = this.keys.get(key)!;
        const value = rng.chance(0.15) ? undefined : valueOf(key, s.versions.length, rng);
        s.versions.push(value);
        await this.within(value ? this.db.put(key, value, { sync }) : this.db.del(key, { sync }), `${value ? 'put' : 'del'} ${key} by writer ${w}`);
        s.ackedBelow = s.versions.length;
      }
      this.counts.writes++;
      if (sync) this.counts.syncWrites++;
    }
  }

  async reader(r: number): Promise<void> {
    const rng = new Rng(this.data.seed * 1000 + 100 + r);
    while (!this.stopping) {
      if (rng.chance(0.9)) {
        const key = `w${rng.int(WRITERS)}/${rng.int(KEYS_PER_WRITER)}`;
        const ackedBelow = this.keys.get(key)!.ackedBelow;
        const got = rng.chance(0.5) ? this.db.getSync(key) : await this.within(this.db.get(key), `get ${key}`);
        this.check(key, got, `reader ${r}: get`, ackedBelow);
        this.counts.reads++;
      } else {
        await this.scan(rng, `reader ${r}: a scan`, 0);
        this.counts.scans++;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /**
   * Reads an iterator in steps, pausing `pauseMs` between them so that flushes and compactions
   * run under it. Every entry must be a version of its key acknowledged or in flight when the
   * iterator was opened: no older (it was overwritten before) and no newer (the iterator's
   * snapshot predates it).
   */
  async scan(rng: Rng, what: string, pauseMs: number): Promise<void> {
    const bounds = new Map<string, [number, number]>();
    for (const [key, s] of this.keys) bounds.set(key, [s.ackedBelow - 1, s.versions.length - 1]);
    const reverse = rng.chance(0.3);
    const it = this.db.iterator({ reverse });
    let previous: Buffer | undefined;
    try {
      for (;;) {
        const chunk = await this.within(it.nextv(rng.range(1, 50)), `${what}: nextv()`);
        for (const [k, v] of chunk) {
          if (previous !== undefined && Buffer.compare(previous, k) * (reverse ? -1 : 1) >= 0) {
            throw new Error(`${what}: ${k.toString()} came after ${previous.toString()} in a${reverse ? ' reverse' : ''} scan`);
          }
          previous = k;
          const key = k.toString();
          const [lowest, highest] = bounds.get(key) ?? [-2, -2];
          const version = versionOf(v);
          if (version < lowest || version > highest) {
            throw new Error(`${what}: ${key} holds version ${version}, but when the iterator was opened versions ${lowest} (acknowledged) to ${highest} (issued) were possible`);
          }
        }
        if (chunk.length === 0) break;
        if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    } finally {
      await it.close();
    }
  }

  /** Iterators left open across flushes and compactions, read a little now and then. */
  async lingering(): Promise<void> {
    const rng = new Rng(this.data.seed * 1000 + 200);
    while (!this.stopping) {
      await this.scan(rng, 'a lingering iterator', rng.range(20, 200));
      this.counts.lingeringReads++;
      // Not only microtasks between scans (an empty scan has no pause): other actors need turns.
      await new Promise((resolve) => setTimeout(resolve, rng.range(1, 50)));
    }
  }

  /** flush() and compactRange() calls, often two or three overlapping. */
  async maintenance(): Promise<void> {
    const rng = new Rng(this.data.seed * 1000 + 300);
    while (!this.stopping) {
      const calls: Promise<void>[] = [];
      const labels: string[] = [];
      for (let i = rng.range(1, 3); i > 0; i--) {
        if (rng.chance(0.5)) {
          calls.push(this.db.flush());
          labels.push('flush()');
          this.counts.flushes++;
        } else {
          const a = `w${rng.int(WRITERS)}`;
          const b = `w${rng.int(WRITERS)}~`;
          const whole = rng.chance(0.5);
          calls.push(whole ? this.db.compactRange() : this.db.compactRange(a < b ? a : b, a < b ? b : a));
          labels.push(whole ? 'compactRange()' : 'compactRange(a, b)');
          this.counts.compactions++;
        }
        await new Promise((resolve) => setTimeout(resolve, rng.int(6)));
      }
      await this.within(Promise.all(calls), `overlapping ${labels.join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, rng.range(0, 150)));
    }
  }

  // -------------------------------------------------------------------------------------------

  async run(): Promise<string> {
    let last = performance.now();
    const monitor = setInterval(() => {
      const now = performance.now();
      this.longestGapMs = Math.max(this.longestGapMs, now - last);
      last = now;
    }, 5);
    try {
      this.db = await open(this.dir, this.options);
      this.progress(`open; running for ${this.data.seconds} s`);
      const actors = [
        ...Array.from({ length: WRITERS }, (_, w) => this.writer(w)),
        ...Array.from({ length: READERS }, (_, r) => this.reader(r)),
        this.lingering(),
        this.lingering(),
        this.maintenance(),
      ];
      const failed = Promise.race(actors.map((a) => a.then(() => new Promise<never>(() => undefined))));
      const timeUp = new Promise<void>((resolve) => setTimeout(resolve, this.data.seconds * 1000));
      const ticker = setInterval(() => this.progress(`${JSON.stringify(this.counts)}; longest event-loop gap ${this.longestGapMs.toFixed(0)} ms`), 1000);
      try {
        await Promise.race([timeUp, failed]);
        this.stopping = true;
        this.progress('time is up: stopping the actors');
        await this.within(Promise.race([Promise.all(actors), failed]), 'the actors finishing their last calls');
      } finally {
        clearInterval(ticker);
      }
      if (this.longestGapMs > MAX_LOOP_GAP_MS) throw new Error(`the 5 ms timer waited ${this.longestGapMs.toFixed(0)} ms for its turn (limit ${MAX_LOOP_GAP_MS} ms): the event loop stalled`);

      this.progress('close() racing with writes in flight');
      await this.closeRacingWrites();
      this.progress('reopen and check every key');
      this.db = await this.within(open(this.dir, this.options), 'open() after close');
      for (const key of this.keys.keys()) this.check(key, this.db.getSync(key), 'after reopen');
      let scanned = 0;
      for await (const [k, v] of this.db.iterator()) {
        this.check(k.toString(), v, 'a scan after reopen');
        scanned++;
      }
      const present = [...this.keys.keys()].filter((k) => this.db.getSync(k) !== undefined).length;
      if (scanned !== present) throw new Error(`a scan after reopen found ${scanned} entries, getSync ${present}`);
      await this.within(this.db.close(), 'close() after the check');
      if (this.longestGapMs > MAX_LOOP_GAP_MS) throw new Error(`the 5 ms timer waited ${this.longestGapMs.toFixed(0)} ms for its turn (limit ${MAX_LOOP_GAP_MS} ms): the event loop stalled`);
      if (this.counts.flushes === 0 || this.counts.compactions === 0 || this.counts.syncWrites === 0) throw new Error(`the run did too little: ${JSON.stringify(this.counts)}`);
      return `${JSON.stringify(this.counts)}; longest event-loop gap ${this.longestGapMs.toFixed(0)} ms`;
    } finally {
      clearInterval(monitor);
      await this.within(this.db.close(), 'close() after the run').catch(() => undefined);
    }
  }

  /**
   * Issues a burst of writes and calls close() before they settle. Each write either resolves
   * (then it must survive the reopen) or fails with CLOSED (then it may or may not be there).
   */
  async closeRacingWrites(): Promise<void> {
    const rng = this.rng;
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      const key = `w${rng.int(WRITERS)}/${rng.int(KEYS_PER_WRITER)}`;
      const s = this.keys.get(key)!;
      const value = rng.chance(0.15) ? undefined : valueOf(key, s.versions.length, rng);
      const version = s.versions.length;
      s.versions.push(value);
      const sync = rng.chance(0.2);
      const p = value ? this.db.put(key, value, { sync }) : this.db.del(key, { sync });
      writes.push(
        this.within(p, `${value ? 'put' : 'del'} ${key} racing close()`, ['CLOSED']).then(
          // Writes to one key resolve in the order issued; a later one acknowledged covers the earlier.
          () => void (s.ackedBelow = Math.max(s.ackedBelow, version + 1)),
          (err: unknown) => {
            if (!(err instanceof StrataError)) throw err;
          },
        ),
      );
      if (i === 100) writes.push(this.within(this.db.close(), 'close() with writes in flight'));
    }
    await Promise.all(writes);
  }
}

workload<SoakData>(async (data, progress) => {
  const dir = makeTempDir('strata-soak-');
  try {
    return await new Soak(data, dir, progress).run();
  } finally {
    if (process.env['STRATA_KEEP_DIRS']) console.error(`kept ${dir}`);
    else removeDir(dir);
  }
});
