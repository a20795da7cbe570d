// Shared by the model, crash and recovery tests: a seeded PRNG, a sorted in-memory model of
// the database, temp directories, byte surgery on files, and error assertions.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NodeFileSystem, StrataError, type ErrorCode, type FileSystem } from '../src/index.js';
import { TableReader } from '../src/sstable/index.js';

// ---------------------------------------------------------------------------------------------
// Seeded PRNG

/**
 * A small, fast, seeded PRNG (sfc32, seeded through splitmix32 so that nearby seeds give
 * unrelated streams). The same seed gives the same sequence on every machine and Node version.
 */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(readonly seed: number) {
    let s = seed >>> 0;
    const split = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = split();
    this.#b = split();
    this.#c = split();
    this.#d = split();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.u32() / 0x1_0000_0000;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** An integer in [min, max], both included. */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)]!;
  }

  /** `n` pseudo-random bytes. */
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) out.writeUInt32LE(this.u32(), i);
    if (i < n) {
      const last = this.u32();
      for (let j = 0; i < n; i++, j++) out[i] = (last >>> (8 * j)) & 0xff;
    }
    return out;
  }

  /** Picks a key of `weights` with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][];
    let total = 0;
    for (const [, w] of entries) total += w;
    let r = this.float() * total;
    for (const [k, w] of entries) {
      r -= w;
      if (r < 0) return k;
    }
    return entries[entries.length - 1]![0];
  }
}

/** A seed from the environment variable `name` (decimal or 0x hex), or undefined. */
export function envInt(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}=${raw} is not a non-negative integer`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// The model: what the database should hold

export interface RangeOptions {
  gt?: Buffer;
  gte?: Buffer;
  lt?: Buffer;
  lte?: Buffer;
  reverse?: boolean;
  /** -1 (or absent) for no limit. */
  limit?: number;
}

/** A plain sorted map of byte keys (ordered by Buffer.compare) to byte values. */
export class SortedModel {
  /** Keys in ascending order. */
  #keys: Buffer[] = [];
  /** latin1 string of the key bytes (one char per byte, so distinct keys stay distinct) → value. */
  #values = new Map<string, Buffer>();

  static #id(key: Uint8Array): string {
    return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
  }

  get size(): number {
    return this.#keys.length;
  }

  get(key: Uint8Array): Buffer | undefined {
    return this.#values.get(SortedModel.#id(key));
  }

  set(key: Uint8Array, value: Uint8Array): void {
    const id = SortedModel.#id(key);
    if (!this.#values.has(id)) {
      const k = Buffer.from(key);
      this.#keys.splice(this.#lowerBound(k), 0, k);
    }
    this.#values.set(id, Buffer.from(value));
  }

  delete(key: Uint8Array): void {
    const id = SortedModel.#id(key);
    if (!this.#values.delete(id)) return;
    const at = this.#lowerBound(Buffer.from(key));
    this.#keys.splice(at, 1);
  }

  /** Deletes every key an iterator with these bounds would return (db.clear()). */
  clear(o: RangeOptions = {}): void {
    for (const [k] of this.range({ ...(o.gt && { gt: o.gt }), ...(o.gte && { gte: o.gte }), ...(o.lt && { lt: o.lt }), ...(o.lte && { lte: o.lte }) })) this.delete(k);
  }

  /** A copy whose later changes do not affect this one (values are never mutated in place). */
  clone(): SortedModel {
    const c = new SortedModel();
    c.#keys = this.#keys.slice();
    c.#values = new Map(this.#values);
    return c;
  }

  keys(): readonly Buffer[] {
    return this.#keys;
  }

  /** The entries an iterator with these options must return, in its order. */
  range(o: RangeOptions = {}): [Buffer, Buffer][] {
    let from = 0;
    let to = this.#keys.length; // exclusive
    if (o.gte !== undefined) from = this.#lowerBound(o.gte);
    else if (o.gt !== undefined) from = this.#upperBound(o.gt);
    if (o.lt !== undefined) to = this.#lowerBound(o.lt);
    else if (o.lte !== undefined) to = this.#upperBound(o.lte);
    const out: [Buffer, Buffer][] = [];
    if (from >= to) return out;
    const limit = o.limit === undefined || o.limit < 0 ? Infinity : o.limit;
    if (!o.reverse) {
      for (let i = from; i < to && out.length < limit; i++) out.push(this.#entry(i));
    } else {
      for (let i = to - 1; i >= from && out.length < limit; i--) out.push(this.#entry(i));
    }
    return out;
  }

  #entry(i: number): [Buffer, Buffer] {
    const k = this.#keys[i]!;
    return [k, this.#values.get(SortedModel.#id(k))!];
  }

  /** Index of the first key >= `key`. */
  #lowerBound(key: Buffer): number {
    let lo = 0;
    let hi = this.#keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Buffer.compare(this.#keys[mid]!, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the first key > `key`. */
  #upperBound(key: Buffer): number {
    let lo = 0;
    let hi = this.#keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Buffer.compare(this.#keys[mid]!, key) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

// ---------------------------------------------------------------------------------------------
// Describing bytes in failure messages

/** A short, readable rendering of a key or value: hex, cut after `max` bytes, with its length. */
export function show(bytes: Uint8Array | undefined, max = 16): string {
  if (bytes === undefined) return 'undefined';
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const head = b.subarray(0, max).toString('hex');
  return b.length <= max ? `<${head}>` : `<${head}… ${b.length} bytes>`;
}

/** Throws a readable error unless `actual` and `expected` hold the same entries in order. */
export function assertEntries(actual: readonly (readonly [Uint8Array, Uint8Array])[], expected: readonly (readonly [Uint8Array, Uint8Array])[], what: string): void {
  const n = Math.max(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    const a = actual[i];
    const e = expected[i];
    if (a === undefined || e === undefined || Buffer.compare(a[0], e[0]) !== 0 || Buffer.compare(a[1], e[1]) !== 0) {
      throw new Error(
        `${what}: entry ${i} differs: got ${a ? `${show(a[0])}=${show(a[1])}` : 'the end'}, ` +
          `expected ${e ? `${show(e[0])}=${show(e[1])}` : 'the end'} (${actual.length} entries, expected ${expected.length})`,
      );
    }
  }
}

export function assertValue(actual: Uint8Array | undefined, expected: Uint8Array | undefined, what: string): void {
  const same = actual === undefined || expected === undefined ? actual === expected : Buffer.compare(actual, expected) === 0;
  if (!same) throw new Error(`${what}: got ${show(actual)}, expected ${show(expected)}`);
}

// ---------------------------------------------------------------------------------------------
// Errors

/** The StrataError that `run` throws or rejects with; fails unless it has code `code`. */
export async function expectCode(run: () => unknown, code: ErrorCode, what = 'the call'): Promise<StrataError> {
  let outcome: unknown;
  try {
    await run();
  } catch (err) {
    outcome = err;
  }
  if (outcome === undefined) throw new Error(`${what} succeeded; expected a StrataError with code ${code}`);
  if (!(outcome instanceof StrataError)) {
    throw new Error(`${what} threw ${String((outcome as Error)?.stack ?? outcome)}; expected a StrataError with code ${code}`);
  }
  if (outcome.code !== code) throw new Error(`${what} failed with ${outcome.code} (${outcome.message}); expected ${code}`);
  return outcome;
}

// ---------------------------------------------------------------------------------------------
// Directories and files

/** A new empty directory under the OS temp directory. */
/**
 * Waits (up to 10 s) until `db` has completed at least `count` compactions. Compactions run on
 * threads below the application's priority (backgroundNice): on a busy machine the writes of a
 * test may finish before the first compaction does, which is no failure.
 */
export async function untilCompactions(db: { stats(): { compactions: number } }, count = 1): Promise<void> {
  for (let waited = 0; db.stats().compactions < count && waited < 10_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
}

export function makeTempDir(prefix = 'strata-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * Runs `body` with a fresh temp directory that is removed afterwards, also when it fails.
 * Keeps the directory when STRATA_KEEP_DIRS is set, for a look at a failure. A body that
 * succeeds must leave no descriptor of a file under the directory open (every test of a
 * database closed, or failed to open, is a test for leaked descriptors too).
 */
export async function withTempDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = makeTempDir();
  try {
    const result = await body(dir);
    const open = openDescriptorsOf(dir);
    if (open.length > 0) throw new Error(`descriptors of files under the test's directory left open: ${open.join(', ')}`);
    return result;
  } finally {
    if (process.env['STRATA_KEEP_DIRS']) console.error(`kept ${dir}`);
    else removeDir(dir);
  }
}

/** Copies every regular file of `from` (not recursive) into a new directory `to`. */
export function copyDir(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const name of fs.readdirSync(from)) {
    const src = path.join(from, name);
    if (fs.statSync(src).isFile()) fs.copyFileSync(src, path.join(to, name));
  }
}

/** Names of the files in `dir` ending in `suffix` (".log", ".sst"), or starting with it for "MANIFEST-", sorted. */
export function filesOf(dir: string, kind: '.log' | '.sst' | 'MANIFEST-'): string[] {
  return fs
    .readdirSync(dir)
    .filter((n) => (kind === 'MANIFEST-' ? n.startsWith(kind) : n.endsWith(kind)))
    .sort();
}

/** Path of the highest-numbered file of `kind` in `dir`; fails when there is none. */
export function newestFile(dir: string, kind: '.log' | '.sst' | 'MANIFEST-'): string {
  const names = filesOf(dir, kind);
  const last = names[names.length - 1];
  if (last === undefined) throw new Error(`no ${kind} file in ${dir} (${fs.readdirSync(dir).join(', ')})`);
  return path.join(dir, last);
}

/** What this process's descriptors of `file` or of files under it name (deleted or not; Linux's /proc). */
export function openDescriptorsOf(file: string): string[] {
  return fs.readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const name = fs.readlinkSync(`/proc/self/fd/${fd}`);
      return name.startsWith(file) ? [name] : [];
    } catch {
      return []; // closed since the listing
    }
  });
}

/** XORs the byte at `offset` of `file` with `mask` (default 0xff), in place. */
export function flipByte(file: string, offset: number, mask = 0xff): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    if (fs.readSync(fd, b, 0, 1, offset) !== 1) throw new Error(`${file} has no byte at offset ${offset}`);
    b[0] = b[0]! ^ mask;
    fs.writeSync(fd, b, 0, 1, offset);
  } finally {
    fs.closeSync(fd);
  }
}

export function fileSize(file: string): number {
  return fs.statSync(file).size;
}

// ---------------------------------------------------------------------------------------------
// Reading everything back

/** Every entry of `db`, read with a forward iterator. */
export async function readAll(db: { iterator(o?: object): AsyncIterable<[Buffer, Buffer]> }): Promise<[Buffer, Buffer][]> {
  const out: [Buffer, Buffer][] = [];
  for await (const entry of db.iterator()) out.push(entry);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The crash test's workload (test/crash-child.ts writes it, test/crash.test.ts checks it)
//
// Every key is written once, so what a key holds after a crash is exact:
//   put key    "p/<round>/<id>"                 value crashValue(key)
//   batch key  "b/<round>/<id>/<n>/<j>"  j < n   value crashValue(key); the n keys form one batch
//              ("b/<round>/<id>/<n>/{<round>/<id>/<n>}<j>" for an even id: tagged, one shard)
// Lines the child writes to stdout, each written (fs.writeSync) before its next operation:
//   "R"                 the database is open
//   "P <key>"           the put of <key> resolved
//   "B <round>/<id>/<n>" the batch resolved
//   "d <key>"           a delete of <key> (an acknowledged put) is about to be issued
//   "D <key>"           that delete resolved
//   "c <round>/<id>/<n>" a clear of that (acknowledged) batch's key range is about to be issued
//   "C <round>/<id>/<n>" that clear resolved

/** Calls `onLine` with each whole line `stream` (a child's stdout) delivers, without its newline. */
export function onLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      onLine(line);
    }
  });
}

/**
 * Writes one line to stdout at once, for a child whose acknowledgments its parent counts:
 * process.stdout is asynchronous on a pipe, and a line still queued when the child is killed
 * would be an acknowledgment lost.
 */
export function acknowledge(line: string): void {
  const bytes = Buffer.from(`${line}\n`);
  let at = 0;
  while (at < bytes.length) {
    try {
      at += fs.writeSync(1, bytes, at);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
  }
}

/** The value stored under crash-workload key `key`: the key, "|", then filler to a length set by the key's hash. */
export function crashValue(key: string, maxExtraBytes: number): Buffer {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  const len = key.length + 1 + (h % (maxExtraBytes + 1));
  const out = Buffer.alloc(len, `${key}|`);
  for (let i = key.length + 1; i < len; i++) out[i] = 0x61 + ((h + i) % 26);
  return out;
}

/**
 * Key `j` of crash-workload batch `batch` ("<round>/<id>/<n>"). A batch of even id carries a
 * hash tag of its own, "b/<batch>/{<batch>}<j>": its keys share a shard (a one-shard batch).
 */
export const batchKey = (batch: string, j: number) => `b/${batch}/${Number(batch.split('/')[1]) % 2 === 0 ? `{${batch}}` : ''}${j}`;

/**
 * Options of a crash-test database: with small memtables, small levels and files too, so that
 * kills land in the middle of flushes and of compactions (in a worker thread).
 */
/** The crash tests keep every log for the change feed: changes({ since: 0n }) lists every write. */
export const CRASH_RETENTION = { bytes: 1024 * 1024 * 1024, ms: 60 * 60 * 1000 };

export function crashOptions(memtableBytes: number): Record<string, number> {
  if (memtableBytes >= 1024 * 1024) return { memtableBytes };
  return { memtableBytes, l0CompactionTrigger: 2, levelBaseBytes: 128 * 1024, levelMultiplier: 4, targetFileBytes: 64 * 1024, compactionWorkers: 1 };
}

// ---------------------------------------------------------------------------------------------
// Power-cut checks (test/sweep.test.ts, test/fault*.test.ts)
//
// A WriteHistory issues writes through it, in order, and records what was acknowledged. After
// a crash, check() reads the reopened database and demands that it holds exactly the state
// after some prefix of the issued writes (a write is all of its entries: a batch is all or
// nothing), that the prefix covers every write that had to survive (an acknowledged sync write
// and everything before it; everything before a resolved flush(), compactRange() or close()),
// and that no key holds a value that was never written. Every value is unique (it names its
// write), so a value found names the write it came from.

interface HistoryWrite {
  readonly entries: readonly { key: Buffer; value: Buffer | undefined }[];
  /** A range deletion of [gte, lt) (no entries): deletes every key written before it there. */
  readonly clear?: { gte: Buffer; lt: Buffer };
  readonly sync: boolean;
  acked: boolean;
}

type HistoryDb = {
  put(key: Uint8Array, value: Uint8Array, options?: { sync?: boolean }): Promise<unknown>;
  del(key: Uint8Array, options?: { sync?: boolean }): Promise<unknown>;
  batch(ops: ({ type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array })[], options?: { sync?: boolean }): Promise<unknown>;
  clear(range: { gte: Uint8Array; lt: Uint8Array }, options?: { sync?: boolean }): Promise<unknown>;
  iterator(o?: object): AsyncIterable<[Buffer, Buffer]>;
  getSync(key: Uint8Array): Buffer | undefined;
};

export class WriteHistory {
  readonly writes: HistoryWrite[] = [];
  /** Writes below this index must be in the database after any crash. */
  durableBelow = 0;
  readonly #alive: () => boolean;

  /**
   * `alive` says whether the machine is still running: an acknowledgment that arrives after the
   * power went off is one no application could have seen, so it promises nothing.
   */
  constructor(alive: () => boolean = () => true) {
    this.#alive = alive;
  }

  /** A value naming write `index` (entry `j`), padded with `filler`. */
  static value(index: number, j: number, key: Buffer, filler: Buffer): Buffer {
    return Buffer.concat([Buffer.from(`${index}.${j}:`), key, Buffer.from('|'), filler]);
  }

  put(db: HistoryDb, key: Buffer, value: Buffer, sync: boolean): Promise<void> {
    return this.#issue([{ key, value }], sync, () => db.put(key, value, { sync }));
  }

  del(db: HistoryDb, key: Buffer, sync: boolean): Promise<void> {
    return this.#issue([{ key, value: undefined }], sync, () => db.del(key, { sync }));
  }

  /** REQUIRES: no key twice in `entries`. */
  batch(db: HistoryDb, entries: { key: Buffer; value: Buffer | undefined }[], sync: boolean): Promise<void> {
    const ops = entries.map((e) => (e.value === undefined ? { type: 'del' as const, key: e.key } : { type: 'put' as const, key: e.key, value: e.value }));
    return this.#issue(entries, sync, () => db.batch(ops, { sync }));
  }

  /** A clear() of [gte, lt): one write that deletes every key written there before it. */
  clear(db: HistoryDb, gte: Buffer, lt: Buffer, sync: boolean): Promise<void> {
    return this.#issue([], sync, () => db.clear({ gte, lt }, { sync }), { gte, lt });
  }

  /** Awaits `done` (a flush(), compactRange() or close() called just now): every write issued before it must survive. */
  async barrier(done: Promise<void>): Promise<void> {
    const upTo = this.writes.length;
    await done;
    if (this.#alive()) this.durableBelow = Math.max(this.durableBelow, upTo);
  }

  /** Acknowledged writes. */
  get acked(): number {
    return this.writes.filter((w) => w.acked).length;
  }

  #issue(entries: HistoryWrite['entries'], sync: boolean, call: () => Promise<unknown>, clear?: HistoryWrite['clear']): Promise<void> {
    const index = this.writes.length;
    const w: HistoryWrite = { entries, sync, acked: false, ...(clear && { clear }) };
    this.writes.push(w);
    // Called synchronously, so that the database numbers the writes in this order.
    return call().then(() => {
      if (!this.#alive()) return;
      w.acked = true;
      if (sync) this.durableBelow = Math.max(this.durableBelow, index + 1);
    });
  }

  /**
   * Checks `db` against the history (see above); throws a readable error on a violation.
   * Returns the length of the longest prefix of the writes the database matches.
   */
  async check(db: HistoryDb, what: string): Promise<number> {
    const found = new Map<string, Buffer>();
    let previous: Buffer | undefined;
    for await (const [k, v] of db.iterator()) {
      if (previous !== undefined && Buffer.compare(previous, k) >= 0) throw new Error(`${what}: iterator keys out of order: ${show(previous)} then ${show(k)}`);
      previous = k;
      found.set(k.toString('latin1'), v);
    }
    // Per key, its writes in order: [write index, value or undefined for a delete].
    const history = new Map<string, [number, Buffer | undefined][]>();
    this.writes.forEach((w, i) => {
      // A clear is a delete, at its index, of every key in its range written before it.
      if (w.clear !== undefined) {
        for (const [id, h] of history) {
          const k = Buffer.from(id, 'latin1');
          if (Buffer.compare(k, w.clear.gte) >= 0 && Buffer.compare(k, w.clear.lt) < 0) h.push([i, undefined]);
        }
      }
      for (const e of w.entries) {
        const id = e.key.toString('latin1');
        let h = history.get(id);
        if (h === undefined) history.set(id, (h = []));
        h.push([i, e.value]);
      }
    });
    for (const [id, v] of found) {
      if (!history.has(id)) throw new Error(`${what}: key ${show(Buffer.from(id, 'latin1'))}, never written, holds ${show(v, 40)}`);
    }
    const n = this.writes.length;
    // allowed[p] counts the keys whose state matches the state after the first p writes.
    const diff = new Int32Array(n + 2);
    const allow = (from: number, to: number) => {
      diff[from]!++;
      diff[to + 1]!--;
    };
    for (const [id, h] of history) {
      const key = Buffer.from(id, 'latin1');
      const got = found.get(id);
      const viaGet = db.getSync(key);
      if ((got === undefined) !== (viaGet === undefined) || (got !== undefined && !got.equals(viaGet!))) {
        throw new Error(`${what}: get(${show(key)}) gives ${show(viaGet, 40)}, the iterator ${show(got, 40)}`);
      }
      const end = (j: number) => (j + 1 < h.length ? h[j + 1]![0] : n);
      if (got === undefined) {
        allow(0, h[0]![0]);
        h.forEach(([i, v], j) => v === undefined && allow(i + 1, end(j)));
      } else {
        const j = h.findIndex(([, v]) => v !== undefined && v.equals(got));
        if (j < 0) throw new Error(`${what}: key ${show(key)} holds ${show(got, 40)}, a value never written to it`);
        allow(h[j]![0] + 1, end(j));
      }
    }
    let best = -1;
    for (let p = 0, count = 0; p <= n; p++) {
      count += diff[p]!;
      if (count === history.size) best = p;
    }
    if (best < this.durableBelow) {
      const at = Math.max(best, this.durableBelow);
      const diffs: string[] = [];
      for (const [id, h] of history) {
        let expected: Buffer | undefined;
        for (const [i, v] of h) if (i < at) expected = v;
        const got = found.get(id);
        if ((got === undefined) !== (expected === undefined) || (got !== undefined && !got.equals(expected!))) {
          diffs.push(`${show(Buffer.from(id, 'latin1'))}: ${show(got, 24)}, expected ${show(expected, 24)}`);
        }
      }
      throw new Error(
        `${what}: ${best < 0 ? 'the database matches no prefix of the writes (a torn batch or a lost write with later ones kept)' : `only the first ${best} writes are there`}` +
          `; the first ${this.durableBelow} of ${n} had to survive. Against the first ${at}: ${diffs.slice(0, 8).join('; ')}`,
      );
    }
    return best;
  }
}

// ---------------------------------------------------------------------------------------------
// The crash-point sweep (test/sweep.test.ts, test/sweep-writeback.test.ts describe it)

// Imports are hoisted: these serve the sections below, appended after the ones above.
import { open, type Database, type OpenOptions } from '../src/index.js';
import { FaultInjectingFileSystem, MUTATING_OPS, mutatingOps } from '../src/testing/index.js';

function sweepAssert(ok: boolean, what: string): void {
  if (!ok) throw new Error(`the sweep workload is not what it should be: ${what}`);
}

/** A sweep's workload run (or a reopen) that takes longer than this is stuck. */
const SWEEP_STUCK_MS = 20_000;

const SWEEP_OPTIONS: OpenOptions = {
  memtableBytes: 64 * 1024,
  // No WAL kept for the change feed: the sweep cuts the power around the deletion of flushed
  // WALs (its coverage check demands one); test/changes.test.ts sweeps a feed's retained logs.
  changeRetention: { bytes: 0 },
  l0CompactionTrigger: 2,
  levelBaseBytes: 128 * 1024,
  targetFileBytes: 64 * 1024,
  blockCacheBytes: 256 * 1024,
  // The reopens with the real file system compact on the main thread too: starting worker
  // threads would cost more than the rest of a crash point (crash.test.ts covers them).
  compactionWorkers: 0,
};

const SWEEP_KEYS = 120;
const SWEEP_BURSTS = 48;
const SWEEP_WRITES_PER_BURST = 14;
const SWEEP_REOPEN_AT = 24;

/** One step of the script, decided from the seed before anything runs. */
type SweepStep =
  | { kind: 'put'; key: Buffer; fillerBytes: number; sync: boolean }
  | { kind: 'del'; key: Buffer; sync: boolean }
  | { kind: 'clear'; gte: Buffer; lt: Buffer; sync: boolean }
  | { kind: 'batch'; ops: { key: Buffer; del: boolean; fillerBytes: number }[]; sync: boolean };

interface SweepScript {
  bursts: SweepStep[][];
  fillerSeed: number;
}

function makeSweepScript(seed: number): SweepScript {
  const rng = new Rng(seed);
  const key = () => Buffer.from(`key-${String(rng.int(SWEEP_KEYS)).padStart(4, '0')}`);
  const bursts: SweepStep[][] = [];
  for (let b = 0; b < SWEEP_BURSTS; b++) {
    const steps: SweepStep[] = [];
    // A third of the bursts sync nothing, so that WAL switches and flushes meet unsynced records.
    const syncAt = rng.chance(2 / 3) ? rng.int(SWEEP_WRITES_PER_BURST) : -1;
    for (let i = 0; i < SWEEP_WRITES_PER_BURST; i++) {
      const sync = i === syncAt || (syncAt >= 0 && rng.chance(0.05));
      const r = rng.float();
      if (r < 0.1) steps.push({ kind: 'del', key: key(), sync });
      else if (r < 0.12) {
        // A range deletion of up to a tenth of the keys.
        const a = rng.int(SWEEP_KEYS);
        const b = Math.min(SWEEP_KEYS, a + rng.range(1, SWEEP_KEYS / 10));
        const name = (n: number) => Buffer.from(`key-${String(n).padStart(4, '0')}`);
        steps.push({ kind: 'clear', gte: name(a), lt: name(b), sync });
      } else if (r < 0.25) {
        const keys = new Map<string, Buffer>();
        const n = rng.range(2, 5);
        while (keys.size < n) {
          const k = key();
          keys.set(k.toString(), k);
        }
        steps.push({ kind: 'batch', ops: [...keys.values()].map((k) => ({ key: k, del: rng.chance(0.2), fillerBytes: rng.range(200, 1600) })), sync });
      } else steps.push({ kind: 'put', key: key(), fillerBytes: rng.range(200, 1600), sync });
    }
    bursts.push(steps);
  }
  return { bursts, fillerSeed: rng.u32() };
}

/** Where a sweep's workload stands, for the deadline's message. */
interface SweepWhere {
  step: string;
  db?: Database | undefined;
}

/** The step, the fault FS's last calls, the database's write and background state, and what keeps the loop alive. */
function sweepDetail(where: SweepWhere, ffs?: FaultInjectingFileSystem): string {
  let stats = '';
  try {
    const s = where.db?.stats();
    if (s) stats = JSON.stringify({ flushes: s.flushes, immutableMemtables: s.immutableMemtables, compactions: s.compactions, compactionsRunning: s.compactionsRunning, levels: s.levels.map((l) => l.files), writes: s.writes });
  } catch (err) {
    stats = String(err);
  }
  const calls = ffs === undefined ? '' : `; the fault FS's last calls: ${ffs.ops.slice(-8).map((o) => `${o.op} ${path.basename(o.path)}${o.fault ? ` (${o.fault})` : ''}`).join(', ')}`;
  return `; in ${where.step}${calls}; stats ${stats}; ${activeRequestsAndHandles()}`;
}

/** What keeps this process's event loop alive, by constructor name: for a watchdog's message on a hang. */
export function activeRequestsAndHandles(): string {
  const requests = (process as unknown as { _getActiveRequests(): object[] })._getActiveRequests().map((r) => r.constructor.name);
  const handles = (process as unknown as { _getActiveHandles(): object[] })._getActiveHandles().map((h) => h.constructor.name);
  return `active requests [${requests.join(', ')}], handles [${handles.join(', ')}]`;
}

interface SweepRun {
  history: WriteHistory;
  /** The workload ran to the end (close() resolved). */
  completed: boolean;
  /** The error that stopped the workload, if any. */
  error: unknown;
}

/**
 * Runs the script on `dir` through `ffs`, stopping at the first failure. Writes are recorded
 * in the returned history as they are issued.
 */
async function runSweepWorkload(dir: string, ffs: FaultInjectingFileSystem, script: SweepScript, where: SweepWhere = { step: '' }): Promise<SweepRun> {
  const history = new WriteHistory(() => !ffs.poweredOff);
  const filler = new Rng(script.fillerSeed);
  let db: Database | undefined;
  const pending: Promise<unknown>[] = [];
  where.db = undefined;
  try {
    where.step = 'open';
    db = where.db = await open(dir, { ...SWEEP_OPTIONS, fs: ffs });
    let d = db;
    for (let b = 0; b < script.bursts.length; b++) {
      if (b === SWEEP_REOPEN_AT) {
        // Recovery is swept too: this open replays the WAL close() left, writes it to a table,
        // starts a new MANIFEST and deletes the old files.
        where.step = 'close() midway';
        await history.barrier(d.close());
        where.step = 'the reopen midway';
        db = d = where.db = await open(dir, { ...SWEEP_OPTIONS, fs: ffs });
      }
      where.step = `burst ${b}`;
      const writes: Promise<void>[] = [];
      for (const step of script.bursts[b]!) {
        const index = history.writes.length;
        let p: Promise<void>;
        if (step.kind === 'put') p = history.put(d, step.key, WriteHistory.value(index, 0, step.key, filler.bytes(step.fillerBytes)), step.sync);
        else if (step.kind === 'del') p = history.del(d, step.key, step.sync);
        else if (step.kind === 'clear') p = history.clear(d, step.gte, step.lt, step.sync);
        else {
          const entries = step.ops.map((o, j) => ({ key: o.key, value: o.del ? undefined : WriteHistory.value(index, j, o.key, filler.bytes(o.fillerBytes)) }));
          p = history.batch(d, entries, step.sync);
        }
        writes.push(p);
        pending.push(p.catch(() => undefined));
      }
      await Promise.all(writes);
      where.step = `after burst ${b}`;
      if (b === 16) await history.barrier(d.flush());
      if (b === 32) await history.barrier(d.compactRange());
    }
    where.step = 'the last flush()';
    await history.barrier(d.flush());
    where.step = 'the last compactRange()';
    await history.barrier(d.compactRange());
    where.step = 'the last close()';
    await history.barrier(d.close());
    return { history, completed: true, error: undefined };
  } catch (err) {
    // Let every write settle (the power is off: they fail fast), so none is left dangling.
    const stopped = String((err as Error)?.message ?? err);
    where.step = `the writes left, after: ${stopped}`;
    await Promise.all(pending);
    // A real crash closes nothing; this only drops the old instance's memory. Every call it
    // makes fails: the fault FS is dead.
    where.step = `close() after: ${stopped}`;
    if (db !== undefined && ffs.poweredOff) await db.close().catch(() => undefined);
    return { history, completed: false, error: err };
  }
}

/** What passed a sweep deadline: the work, still running, and when it started. */
class SweepStuck extends Error {
  /** The crash point's directory, kept until the stuck work had its extra time. */
  dir: string | undefined;
  constructor(
    message: string,
    readonly work: Promise<unknown>,
    readonly startedMs: number,
  ) {
    super(message);
  }
}

/** `detail` says, when the deadline passes, where the stuck work stands (for a hang seen once in CI). */
function withSweepDeadline<T>(p: Promise<T>, what: string, detail: () => string = () => ''): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const startedMs = performance.now();
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SweepStuck(`${what} did not settle within ${SWEEP_STUCK_MS} ms${detail()}`, p, startedMs)), SWEEP_STUCK_MS);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/** Whether stuck work settles within SWEEP_STUCK_MS more: tells a slow step from a hang (said in the failure). */
async function settledLater(stuck: SweepStuck): Promise<string> {
  const outcome = await withSweepDeadline(stuck.work, 'still').then(
    () => 'resolved',
    (err: unknown) => (err instanceof SweepStuck ? 'pending' : `rejected (${String((err as Error)?.message ?? err).slice(0, 300)})`),
  );
  const ms = (performance.now() - stuck.startedMs).toFixed(0);
  return outcome === 'pending' ? `still pending ${ms} ms after it started` : `${outcome} by ${ms} ms after it started`;
}

/**
 * The first reopen starts no compaction, so that the tables on disk, listed right after open,
 * are exactly those the version names (a compaction's outputs would be there before its edit).
 */
const SWEEP_QUIET: OpenOptions = { ...SWEEP_OPTIONS, l0CompactionTrigger: 1000, levelBaseBytes: 1024 * 1024 * 1024 };

/** Reopens `dir` with the real file system and checks it (see the header). Returns the prefix found. */
async function verifySweepPoint(dir: string, history: WriteHistory, what: string, where: SweepWhere = { step: '' }): Promise<number> {
  where.step = 'the first open';
  let db = (where.db = await open(dir, SWEEP_QUIET));
  let prefix: number;
  let entries = 0;
  try {
    where.step = 'the check of the recovered state';
    const tables = fs.readdirSync(dir).filter((n) => n.endsWith('.sst')).length;
    const named = db.stats().levels.reduce((n, l) => n + l.files, 0);
    if (tables !== named) throw new Error(`${what}: ${tables} table files, but the version names ${named}: orphans left after open`);
    const strays = fs.readdirSync(dir).filter((n) => n.endsWith('.tmp'));
    if (strays.length > 0) throw new Error(`${what}: temp files left after open: ${strays.join(', ')}`);
    prefix = await history.check(db, what);
    where.step = 'the scan of the recovered state';
    for await (const _ of db.iterator()) entries++;
    where.step = 'the write after recovery';
    await db.put('after-recovery', 'x', { sync: true });
  } finally {
    where.step = 'the first close';
    await db.close();
  }
  where.step = 'the second open';
  db = where.db = await open(dir, SWEEP_OPTIONS);
  try {
    where.step = 'the scan after the second open';
    let again = 0;
    for await (const _ of db.iterator()) again++;
    if (again !== entries + 1) throw new Error(`${what}: ${again} entries after one more reopen, expected ${entries + 1}: a write after recovery and everything before it survive it`);
    if (db.getSync('after-recovery')?.toString() !== 'x') throw new Error(`${what}: the write after recovery is lost at the next reopen`);
  } finally {
    where.step = 'the second close';
    await db.close();
  }
  return prefix;
}

/** STRATA_SWEEP_POINTS's "A-B" as crashPointSweep's `only`; undefined when unset. */
export function sweepPoints(range: string | undefined): SweepOptions['only'] {
  if (range === undefined) return undefined;
  const m = /^(\d+)-(\d+)$/.exec(range);
  if (m === null) throw new Error(`STRATA_SWEEP_POINTS must be A-B, got ${range}`);
  return { from: Number(m[1]), to: Number(m[2]) };
}

export interface SweepOptions {
  seed: number;
  /** Cut at most about this many crash points, spread evenly over the K + 1. */
  maxPoints: number;
  /** What a power cut keeps of unsynced bytes at crash point k (see PowerCutOptions); none by default. */
  keepUnsynced?: (k: number) => (file: string, unsyncedBytes: number) => number;
  /** Prints the changing calls of the counting run. */
  verbose?: boolean;
  /** Cuts only at crash points in [from, to] (to hunt one seen once). */
  only?: { from: number; to: number } | undefined;
}

/**
 * The crash-point sweep of test/sweep*.test.ts (described there): counts the changing calls K of
 * the workload, then cuts the power after each (or every stride-th). Fails with every violation
 * found, grouped by kind; prints what it covered.
 */
export async function crashPointSweep(o: SweepOptions): Promise<{ points: number; faults: number }> {
  const SEED = o.seed;
  const MAX_POINTS = o.maxPoints;
  const script = makeSweepScript(SEED);
  const started = Date.now();

  // The counting run: no fault, so the workload runs to the end.
  const dir0 = makeTempDir('strata-sweep-');
  let K: number;
  try {
    const ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
    const run = await withSweepDeadline(runSweepWorkload(dir0, ffs, script), 'the counting run');
    if (!run.completed) throw run.error;
    const changing = ffs.ops.filter((o) => MUTATING_OPS.includes(o.op));
    K = changing.length;
    if (o.verbose) console.log(changing.map((o, i) => `${i + 1} ${o.op} ${path.basename(o.path)}`).join('\n'));
    const kinds = new Map<string, number>();
    for (const o of changing) {
      const kind = `${o.op} ${o.path === dir0 ? 'dir' : path.extname(o.path) || path.basename(o.path).replace(/-\d+$/, '')}`;
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
    console.log(`sweep seed ${SEED}: ${run.history.writes.length} writes, ${K} changing calls (${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')})`);
    sweepAssert(changing.some((o) => o.op === 'unlink' && o.path.endsWith('.log')), 'the workload deletes flushed WALs');
    sweepAssert(changing.filter((o) => o.op === 'createWritable' && o.path.endsWith('.sst')).length > 10, 'the workload flushes and compacts');
    await verifySweepPoint(dir0, run.history, 'after the counting run');
  } finally {
    removeDir(dir0);
  }

  const stride = K + 1 <= MAX_POINTS ? 1 : Math.ceil((K + 1) / MAX_POINTS);
  let points = 0;
  let cutMidway = 0;
  let faults = 0;
  const prefixes: number[] = [];
  /** The slowest reopen and check (a hang seen once in CI: how near the deadline the others come). */
  let slowest = { ms: 0, k: -1 };
  /** Violations by kind (the message without paths and numbers) → the crash points that showed it. */
  const violations = new Map<string, string[]>();
  const stuck: SweepStuck[] = [];
  for (let k = 0; k <= K; k += stride) {
    if (o.only !== undefined && (k < o.only.from || k > o.only.to)) continue;
    const dir = makeTempDir('strata-sweep-');
    let what = `power cut after changing call ${k} of ${K}`;
    try {
      const ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
      ffs.cutPowerAfter(k, mutatingOps, o.keepUnsynced ? { keepUnsynced: o.keepUnsynced(k) } : {});
      const where: SweepWhere = { step: '' };
      const run = await withSweepDeadline(runSweepWorkload(dir, ffs, script, where), `${what}: the workload`, () => sweepDetail(where, ffs));
      if (!run.completed && !ffs.poweredOff) throw new Error(`the workload failed with the power on: ${String((run.error as Error)?.stack ?? run.error)}`);
      if (run.completed) await ffs.powerCut(o.keepUnsynced ? { keepUnsynced: o.keepUnsynced(k) } : {});
      else cutMidway++;
      await withSweepDeadline(ffs.whenPowerCut(), `${what}: the power cut`);
      faults += ffs.faultsInjected;
      const cutAt = ffs.ops.find((o) => o.fault === 'POWER_CUT');
      what += cutAt ? ` (at ${cutAt.op} ${path.basename(cutAt.path)})` : ' (after close)';
      const reopen: SweepWhere = { step: '' };
      const reopenStart = performance.now();
      prefixes.push(await withSweepDeadline(verifySweepPoint(dir, run.history, what, reopen), `${what}: the reopen`, () => sweepDetail(reopen)));
      const reopenMs = performance.now() - reopenStart;
      if (reopenMs > slowest.ms) slowest = { ms: reopenMs, k };
      points++;
    } catch (err) {
      if (err instanceof SweepStuck) stuck.push(Object.assign(err, { dir }));
      const message = err instanceof Error ? err.message : String(err);
      const kind = message.replace(/\/[^\s:@]+/g, '<path>').replace(/\d+/g, 'N');
      let list = violations.get(kind);
      if (list === undefined) violations.set(kind, (list = []));
      list.push(`${what}: ${message}`);
    } finally {
      // A stuck step's directory stays until it is given its extra time (below).
      if (process.env['STRATA_KEEP_DIRS']) console.error(`kept ${dir}`);
      else if (stuck.at(-1)?.dir !== dir) removeDir(dir);
    }
  }
  const distinct = new Set(prefixes).size;
  console.log(
    `sweep seed ${SEED}: ${points + [...violations.values()].reduce((n, l) => n + l.length, 0)} crash points cut of ${K + 1} (stride ${stride}), ` +
      `${cutMidway} of them midway through the workload; ${faults} faults injected; ${distinct} distinct recovered states; ` +
      `slowest reopen ${slowest.ms.toFixed(0)} ms (crash point ${slowest.k}); ` +
      `${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  if (violations.size > 0) {
    const report = [...violations.values()].map((list) => `${list.length} crash point(s), first: ${list[0]}${list.length > 1 ? `\n    also: ${list.slice(1, 6).map((l) => l.split(':')[0]).join('; ')}` : ''}`);
    for (const s of stuck) {
      report.push(`given ${SWEEP_STUCK_MS} ms more, ${s.message.split(' did not settle')[0]}: ${await settledLater(s)}`);
      if (!process.env['STRATA_KEEP_DIRS'] && s.dir !== undefined) removeDir(s.dir);
    }
    throw new Error(`seed ${SEED}: ${violations.size} kind(s) of violation (STRATA_KEEP_DIRS=1 STRATA_SWEEP_SEED=${SEED} keeps the directories):\n  ${report.join('\n  ')}`);
  }
  if (points === 0) throw new Error('the sweep covered no crash point');
  return { points, faults };
}


/**
 * A FileSystem whose table creation waits until `release()`: a flush started meanwhile cannot
 * finish, so the WALs it would release stay.
 */
export function flushesHeld(): { fs: FileSystem; release: () => void } {
  const real = new NodeFileSystem();
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const slow: FileSystem = Object.assign(Object.create(real) as FileSystem, {
    createWritable: async (file: string) => {
      if (file.endsWith('.sst')) await held;
      return real.createWritable(file);
    },
  });
  return { fs: slow, release };
}

/** Counts the tables opened on the calling thread (TableReader.open, the synchronous open) while `body` runs. */
export async function tablesOpenedInTheCall(body: () => Promise<void>): Promise<number> {
  const openInTheCall = TableReader.open;
  let opened = 0;
  TableReader.open = (...args: Parameters<typeof TableReader.open>) => {
    opened++;
    return openInTheCall.apply(TableReader, args);
  };
  try {
    await body();
  } finally {
    TableReader.open = openInTheCall;
  }
  return opened;
}
