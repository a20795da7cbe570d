// The adapter's iterators: entries, keys and values, each over one stratadb DatabaseIterator.
//
// abstract-level keeps the count and the limit (it never asks for more than `limit - count`
// items and counts only what decoded), so the stratadb cursor is opened without a limit and
// only _all(), which has no size argument, reads `limit - count` itself. The cursor pins its
// snapshot when it is created, synchronously in db.iterator(): writes issued afterwards are
// not seen, which is what implicitSnapshots promises. With an explicit snapshot the cursor
// reads at that one and does not pin it: the snapshot must outlive the iterator (as
// abstract-level asks of its callers).

import { AbstractIterator, AbstractKeyIterator, AbstractValueIterator, type AbstractIteratorOptions } from 'abstract-level';
import type { Database, DatabaseIterator, IteratorOptions } from '../index.js';
import { decoderFor, innerSnapshot, type Decoder, type Encoded } from './codec.js';
import { AbortError, toLevelError } from './errors.js';
import { StrataSnapshot } from './snapshot.js';
import type { StrataLevel } from './strata-level.js';

/** Range options as the private API receives them: encoded, and reverse and limit always set. */
export interface PrivateRangeOptions {
  gt?: Encoded;
  gte?: Encoded;
  lt?: Encoded;
  lte?: Encoded;
  reverse: boolean;
  /** -1 for no limit. */
  limit: number;
  snapshot?: unknown;
}

export interface PrivateIteratorOptions extends PrivateRangeOptions {
  signal?: unknown;
  keys?: boolean;
  values?: boolean;
  keyEncoding: string;
  valueEncoding: string;
}

/**
 * stratadb's options for abstract-level's range. stratadb refuses both gt and gte (or lt and
 * lte); abstract-level gives gte and lte precedence, so the other one is dropped here.
 */
export function toStrataRange(options: PrivateRangeOptions, withLimit: boolean): IteratorOptions {
  const out: IteratorOptions = { reverse: options.reverse };
  if (options.gte !== undefined) out.gte = options.gte;
  else if (options.gt !== undefined) out.gt = options.gt;
  if (options.lte !== undefined) out.lte = options.lte;
  else if (options.lt !== undefined) out.lt = options.lt;
  if (withLimit) out.limit = options.limit;
  const snapshot = innerSnapshot(options.snapshot);
  if (snapshot !== undefined) out.snapshot = snapshot;
  return out;
}

/**
 * The stratadb cursor for an iterator, or undefined when its explicit snapshot is already
 * closed: abstract-level then fails the iterator's first read with LEVEL_SNAPSHOT_NOT_OPEN
 * (its reads take a reference on the snapshot first), so the cursor is never read.
 */
export function openCursor(db: Database, options: PrivateRangeOptions): DatabaseIterator | undefined {
  if (options.snapshot instanceof StrataSnapshot && options.snapshot.inner.released) return undefined;
  try {
    return db.iterator(toStrataRange(options, false));
  } catch (err) {
    throw toLevelError(err);
  }
}

type Database_ = StrataLevel<unknown, unknown>;
type Entry = [Buffer, Buffer];

/**
 * The reading half shared by the three iterator classes: a cursor (undefined when there is
 * nothing to read, see openCursor) and what each entry becomes.
 *
 * With a `signal`, a read first yields one microtask and fails with LEVEL_ABORTED if the
 * signal fired by then: the window in which the read is in progress and can be aborted.
 * Without one, reads complete in the call, as stratadb serves them.
 */
class Reader<T> {
  readonly #cursor: DatabaseIterator | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #map: (entry: Entry) => T;

  constructor(cursor: DatabaseIterator | undefined, signal: unknown, map: (entry: Entry) => T) {
    this.#cursor = cursor;
    this.#signal = signal instanceof AbortSignal ? signal : undefined;
    this.#map = map;
  }

  async one(): Promise<T | undefined> {
    if (this.#signal !== undefined) await this.#abortPoint();
    if (this.#cursor === undefined) return undefined;
    let entry: Entry | undefined;
    try {
      entry = this.#cursor.nextSync();
    } catch (err) {
      throw toLevelError(err);
    }
    return entry === undefined ? undefined : this.#map(entry);
  }

  /** Up to `max` items; fewer only at the end. */
  async many(max: number): Promise<T[]> {
    if (this.#signal !== undefined) await this.#abortPoint();
    const out: T[] = [];
    if (this.#cursor === undefined) return out;
    try {
      while (out.length < max) {
        const entry = this.#cursor.nextSync();
        if (entry === undefined) break;
        out.push(this.#map(entry));
      }
    } catch (err) {
      throw toLevelError(err);
    }
    return out;
  }

  seek(target: Encoded): void {
    try {
      this.#cursor?.seek(target);
    } catch (err) {
      throw toLevelError(err);
    }
  }

  async close(): Promise<void> {
    await this.#cursor?.close();
  }

  async #abortPoint(): Promise<void> {
    await undefined;
    if (this.#signal?.aborted) throw new AbortError();
  }
}

/** Entries; with keys: false or values: false that half is left undefined (not decoded). */
export class StrataIterator extends AbstractIterator<Database_, Encoded | undefined, Encoded | undefined> {
  readonly #reader: Reader<[Encoded | undefined, Encoded | undefined]>;

  constructor(db: Database_, options: PrivateIteratorOptions, cursor: DatabaseIterator | undefined) {
    super(db, options as unknown as AbstractIteratorOptions<Encoded | undefined, Encoded | undefined>);
    const key: Decoder | undefined = options.keys === false ? undefined : decoderFor(options.keyEncoding);
    const value: Decoder | undefined = options.values === false ? undefined : decoderFor(options.valueEncoding);
    this.#reader = new Reader(cursor, options.signal, (e) => [key?.(e[0]), value?.(e[1])]);
  }

  async _next(): Promise<[Encoded | undefined, Encoded | undefined] | undefined> {
    return this.#reader.one();
  }

  async _nextv(size: number): Promise<[Encoded | undefined, Encoded | undefined][]> {
    return this.#reader.many(size);
  }

  async _all(): Promise<[Encoded | undefined, Encoded | undefined][]> {
    return this.#reader.many(this.limit - this.count);
  }

  _seek(target: Encoded): void {
    this.#reader.seek(target);
  }

  async _close(): Promise<void> {
    await this.#reader.close();
  }
}

export class StrataKeyIterator extends AbstractKeyIterator<Database_, Encoded> {
  readonly #reader: Reader<Encoded>;

  constructor(db: Database_, options: PrivateIteratorOptions, cursor: DatabaseIterator | undefined) {
    super(db, options as unknown as AbstractIteratorOptions<Encoded, Encoded>);
    const key = decoderFor(options.keyEncoding);
    this.#reader = new Reader(cursor, options.signal, (e) => key(e[0]));
  }

  async _next(): Promise<Encoded | undefined> {
    return this.#reader.one();
  }

  async _nextv(size: number): Promise<Encoded[]> {
    return this.#reader.many(size);
  }

  async _all(): Promise<Encoded[]> {
    return this.#reader.many(this.limit - this.count);
  }

  _seek(target: Encoded): void {
    this.#reader.seek(target);
  }

  async _close(): Promise<void> {
    await this.#reader.close();
  }
}

export class StrataValueIterator extends AbstractValueIterator<Database_, Encoded, Encoded> {
  readonly #reader: Reader<Encoded>;

  constructor(db: Database_, options: PrivateIteratorOptions, cursor: DatabaseIterator | undefined) {
    super(db, options as unknown as AbstractIteratorOptions<Encoded, Encoded>);
    const value = decoderFor(options.valueEncoding);
    this.#reader = new Reader(cursor, options.signal, (e) => value(e[1]));
  }

  async _next(): Promise<Encoded | undefined> {
    return this.#reader.one();
  }

  async _nextv(size: number): Promise<Encoded[]> {
    return this.#reader.many(size);
  }

  async _all(): Promise<Encoded[]> {
    return this.#reader.many(this.limit - this.count);
  }

  _seek(target: Encoded): void {
    this.#reader.seek(target);
  }

  async _close(): Promise<void> {
    await this.#reader.close();
  }
}
