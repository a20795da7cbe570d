// Shared by the model, crash and recovery tests: a seeded PRNG, a sorted in-memory model of
// the database, temp directories, byte surgery on files, and error assertions.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StrataError, type ErrorCode } from '../src/index.js';

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
export function makeTempDir(prefix = 'strata-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * Runs `body` with a fresh temp directory that is removed afterwards, also when it fails.
 * Keeps the directory when STRATA_KEEP_DIRS is set, for a look at a failure.
 */
export async function withTempDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = makeTempDir();
  try {
    return await body(dir);
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
// Lines the child writes to stdout, each written (fs.writeSync) before its next operation:
//   "R"                 the database is open
//   "P <key>"           the put of <key> resolved
//   "B <round>/<id>/<n>" the batch resolved
//   "d <key>"           a delete of <key> (an acknowledged put) is about to be issued
//   "D <key>"           that delete resolved

/** The value stored under crash-workload key `key`: the key, "|", then filler to a length set by the key's hash. */
export function crashValue(key: string, maxExtraBytes: number): Buffer {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  const len = key.length + 1 + (h % (maxExtraBytes + 1));
  const out = Buffer.alloc(len, `${key}|`);
  for (let i = key.length + 1; i < len; i++) out[i] = 0x61 + ((h + i) % 26);
  return out;
}

export const batchKey = (batch: string, j: number) => `b/${batch}/${j}`;

/**
 * Options of a crash-test database: with small memtables, small levels and files too, so that
 * kills land in the middle of flushes and of compactions (in a worker thread).
 */
export function crashOptions(memtableBytes: number): Record<string, number> {
  if (memtableBytes >= 1024 * 1024) return { memtableBytes };
  return { memtableBytes, l0CompactionTrigger: 2, levelBaseBytes: 128 * 1024, levelMultiplier: 4, targetFileBytes: 64 * 1024, compactionWorkers: 1 };
}
