// Key and value encodings of the public API: open(dir, { keyEncoding, valueEncoding }).
//
// The engine stores bytes. A codec turns what the caller passes into those bytes (encode) and
// the bytes read back into what the caller gets (decode). Database, Transaction and
// DatabaseIterator call the two codecs of a database (Codecs, below) wherever a key or a value
// crosses the API; nothing else in the engine knows about them.
//
//   name      encode takes                        decode gives
//   'buffer'  Uint8Array, or a string (as UTF-8)  Buffer      (the default: stored as given)
//   'utf8'    string, or a Uint8Array             string
//   'json'    anything JSON.stringify encodes     the JSON.parse of the bytes
//   'msgpack' anything msgpackr packs             the msgpackr unpack of the bytes
//   'tuple'   an array of tuple elements          the array (keys that sort, see below)
//   a Codec   what its encode() takes             what its decode() gives
//
// Encoding happens before anything is written: a value a codec cannot encode (a BigInt for
// 'json', a symbol in a tuple) rejects with INVALID_ARGUMENT and writes nothing. Bytes a codec
// cannot decode (a key written as 'buffer' read back as 'tuple') fail the read with
// INVALID_ARGUMENT, naming the bytes: the stored data is fine, the encoding asked for is not
// the one they were written with.
//
// The tuple encoding: the byte order of the encodings is the natural order of the tuples, so
// that keys like ['user', 42] sort by user, then numerically; iterator bounds and prefixes are
// tuples too. A tuple is its elements' encodings one after another (no length, no terminator:
// so a tuple's encoding is a byte prefix of the encoding of every longer tuple that starts with
// the same elements, and an iterator's `prefix: ['user']` means those tuples). An element:
//
//   element   := tag u8 | body
//   null      := 0x05
//   false     := 0x10            true := 0x11
//   number    := 0x20 | float64 big-endian, sign bit set when >= 0, every bit flipped when < 0
//   bigint    := 0x28 | (255 - n) u8 | magnitude, n bytes big-endian, every bit flipped  (< 0)
//              | 0x29 | n u8 | magnitude, n bytes big-endian                              (>= 0)
//   string    := 0x30 | escaped UTF-8 | 0x00
//   bytes     := 0x40 | escaped bytes | 0x00
//   tuple     := 0x50 | element* | 0x00
//   escaped   := each 0x00 byte written as 0x00 0xff
//
// Tags are written to disk in keys: append new ones, never renumber. The order this gives, and
// the one test/encoding.test.ts checks against compareTuples(): element by element; a tuple
// that ends first sorts first; between types null < false < true < number < bigint < string <
// bytes < tuple; numbers numerically (-0 is stored as 0; NaN is refused), bigints numerically
// (magnitudes up to 255 bytes), strings by code point (UTF-8 byte order, not JavaScript's
// UTF-16 order), bytes lexicographically, nested tuples by these same rules. Decoding gives
// bytes as a Buffer and nested tuples as arrays.

import { Packr } from 'msgpackr';
import { invalidArgument, StrataError } from './base/index.js';
import { describe, toKey, toValue } from './input.js';
import type { Change } from './shard/index.js';

/** Turns values into stored bytes and back. `name` appears in error messages. */
export interface Codec<In = unknown, Out = In> {
  readonly name: string;
  /**
   * The bytes to store for `value` (a string is stored as its UTF-8); throws (any error) for a
   * value it cannot encode, which the caller then gets as INVALID_ARGUMENT.
   */
  encode(value: In): Uint8Array;
  /** The value of stored `bytes` (a fresh Buffer the codec may keep). */
  decode(bytes: Buffer): Out;
}

export type TupleElement = null | boolean | number | bigint | string | Uint8Array | readonly TupleElement[];
export type Tuple = readonly TupleElement[];

/** A JSON or msgpack value, as decode gives it: any, since the caller knows its shape better. */
type Decoded = any;

const BUFFER: Codec<Uint8Array | string, Buffer> = {
  name: 'buffer',
  encode: (value) => value as Uint8Array,
  decode: (bytes) => bytes,
};

const UTF8: Codec<string | Uint8Array, string> = {
  name: 'utf8',
  encode: (value) => {
    if (typeof value !== 'string' && !(value instanceof Uint8Array)) throw new TypeError(`expected a string, got ${describe(value)}`);
    return value as Uint8Array;
  },
  decode: (bytes) => bytes.toString('utf8'),
};

const JSON_CODEC: Codec<unknown, Decoded> = {
  name: 'json',
  encode: (value) => {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError(`JSON has no encoding of ${describe(value)}`);
    return Buffer.from(text, 'utf8');
  },
  decode: (bytes) => JSON.parse(bytes.toString('utf8')),
};

const packr = new Packr({ useRecords: false });

const MSGPACK: Codec<unknown, Decoded> = {
  name: 'msgpack',
  // A copy: msgpackr hands out views of a buffer it keeps writing into.
  encode: (value) => Uint8Array.prototype.slice.call(packr.pack(value)),
  decode: (bytes) => packr.unpack(bytes),
};

// Tuple element tags: written to disk, never renumber (module comment).
const Tag = { Null: 0x05, False: 0x10, True: 0x11, Number: 0x20, NegBigInt: 0x28, BigInt: 0x29, String: 0x30, Bytes: 0x40, Tuple: 0x50 } as const;
const END = 0x00;
const ESCAPE = 0xff;
/** Nesting deeper than this is refused (encode) or not a tuple (decode). */
const MAX_TUPLE_DEPTH = 64;
const MAX_BIGINT_BYTES = 255;

const TUPLE: Codec<Tuple, TupleElement[]> = {
  name: 'tuple',
  encode: (value) => {
    if (!Array.isArray(value)) throw new TypeError(`a tuple key must be an array, got ${describe(value)}`);
    const out: number[] = [];
    writeElements(out, value, 0);
    return Buffer.from(out);
  },
  decode: (bytes) => {
    const reader = { bytes, at: 0 };
    const elements = readElements(reader, 0, false);
    return elements;
  },
};

const scratch = new DataView(new ArrayBuffer(8));

function writeElements(out: number[], tuple: readonly unknown[], depth: number): void {
  if (depth >= MAX_TUPLE_DEPTH) throw new TypeError(`tuples nest at most ${MAX_TUPLE_DEPTH} deep`);
  for (let i = 0; i < tuple.length; i++) writeElement(out, tuple[i], depth);
}

function writeElement(out: number[], e: unknown, depth: number): void {
  if (e === null) out.push(Tag.Null);
  else if (e === false) out.push(Tag.False);
  else if (e === true) out.push(Tag.True);
  else if (typeof e === 'number') {
    if (Number.isNaN(e)) throw new TypeError('NaN has no place in a tuple order');
    scratch.setFloat64(0, e === 0 ? 0 : e);
    const negative = scratch.getUint8(0) >= 0x80;
    out.push(Tag.Number);
    for (let i = 0; i < 8; i++) {
      const b = scratch.getUint8(i);
      out.push(negative ? ~b & 0xff : i === 0 ? b | 0x80 : b);
    }
  } else if (typeof e === 'bigint') {
    const negative = e < 0n;
    const hex = (negative ? -e : e).toString(16);
    const magnitude = e === 0n ? Buffer.alloc(0) : Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, 'hex');
    if (magnitude.length > MAX_BIGINT_BYTES) throw new TypeError(`a tuple bigint has at most ${MAX_BIGINT_BYTES} bytes of magnitude`);
    out.push(negative ? Tag.NegBigInt : Tag.BigInt, negative ? 255 - magnitude.length : magnitude.length);
    for (const b of magnitude) out.push(negative ? ~b & 0xff : b);
  } else if (typeof e === 'string') {
    // Checked here, not left to Buffer.from: a lone surrogate would turn into U+FFFD in silence.
    if (!(e as unknown as { isWellFormed(): boolean }).isWellFormed()) throw new TypeError('a tuple string has a lone surrogate');
    out.push(Tag.String);
    writeEscaped(out, Buffer.from(e, 'utf8'));
  } else if (e instanceof Uint8Array) {
    out.push(Tag.Bytes);
    writeEscaped(out, e);
  } else if (Array.isArray(e)) {
    out.push(Tag.Tuple);
    writeElements(out, e, depth + 1);
    out.push(END);
  } else {
    throw new TypeError(`a tuple element must be null, a boolean, number, bigint, string, Uint8Array or array, got ${describe(e)}`);
  }
}

function writeEscaped(out: number[], bytes: Uint8Array): void {
  for (const b of bytes) {
    out.push(b);
    if (b === END) out.push(ESCAPE);
  }
  out.push(END);
}

interface Reader {
  bytes: Buffer;
  at: number;
}

function notATuple(r: Reader, what: string): Error {
  return new TypeError(`not a tuple encoding (${what} at byte ${r.at})`);
}

function readElements(r: Reader, depth: number, nested: boolean): TupleElement[] {
  if (depth >= MAX_TUPLE_DEPTH) throw notATuple(r, 'nesting too deep');
  const elements: TupleElement[] = [];
  for (;;) {
    if (r.at >= r.bytes.length) {
      if (nested) throw notATuple(r, 'an unterminated nested tuple');
      return elements;
    }
    const tag = r.bytes[r.at++]!;
    if (nested && tag === END) return elements;
    elements.push(readElement(r, tag, depth));
  }
}

function readElement(r: Reader, tag: number, depth: number): TupleElement {
  const bytes = r.bytes;
  switch (tag) {
    case Tag.Null:
      return null;
    case Tag.False:
      return false;
    case Tag.True:
      return true;
    case Tag.Number: {
      if (r.at + 8 > bytes.length) throw notATuple(r, 'a cut number');
      const negative = bytes[r.at]! < 0x80;
      for (let i = 0; i < 8; i++) {
        const b = bytes[r.at + i]!;
        scratch.setUint8(i, negative ? ~b & 0xff : i === 0 ? b & 0x7f : b);
      }
      r.at += 8;
      return scratch.getFloat64(0);
    }
    case Tag.NegBigInt:
    case Tag.BigInt: {
      const negative = tag === Tag.NegBigInt;
      if (r.at >= bytes.length) throw notATuple(r, 'a cut bigint');
      const n = negative ? 255 - bytes[r.at]! : bytes[r.at]!;
      r.at++;
      if (r.at + n > bytes.length) throw notATuple(r, 'a cut bigint');
      const magnitude = Buffer.from(bytes.subarray(r.at, r.at + n));
      if (negative) for (let i = 0; i < n; i++) magnitude[i] = ~magnitude[i]! & 0xff;
      r.at += n;
      const value = n === 0 ? 0n : BigInt(`0x${magnitude.toString('hex')}`);
      return negative ? -value : value;
    }
    case Tag.String:
      return readEscaped(r).toString('utf8');
    case Tag.Bytes:
      return readEscaped(r);
    case Tag.Tuple:
      return readElements(r, depth + 1, true);
    default:
      r.at--;
      throw notATuple(r, `tag 0x${tag.toString(16)}`);
  }
}

function readEscaped(r: Reader): Buffer {
  const bytes = r.bytes;
  const out: number[] = [];
  for (;;) {
    if (r.at >= bytes.length) throw notATuple(r, 'an unterminated string or bytes');
    const b = bytes[r.at++]!;
    if (b !== END) out.push(b);
    else if (bytes[r.at] === ESCAPE) {
      out.push(END);
      r.at++;
    } else return Buffer.from(out);
  }
}

const TYPE_RANK = (e: TupleElement): number =>
  e === null ? 0 : typeof e === 'boolean' ? 1 : typeof e === 'number' ? 2 : typeof e === 'bigint' ? 3 : typeof e === 'string' ? 4 : e instanceof Uint8Array ? 5 : 6;

/** The natural order of tuples that the tuple encoding's byte order equals (module comment). */
export function compareTuples(a: Tuple, b: Tuple): number {
  for (let i = 0; i < a.length && i < b.length; i++) {
    const c = compareElements(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

function compareElements(a: TupleElement, b: TupleElement): number {
  const ra = TYPE_RANK(a);
  const rb = TYPE_RANK(b);
  if (ra !== rb) return ra - rb;
  if (typeof a === 'boolean' || typeof a === 'number' || typeof a === 'bigint') {
    const x = a as number | bigint | boolean;
    const y = b as number | bigint | boolean;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (typeof a === 'string') return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b as string, 'utf8'));
  if (a instanceof Uint8Array) return Buffer.compare(a, b as Uint8Array);
  if (a === null) return 0;
  return compareTuples(a, b as Tuple);
}

/** The codecs open() knows by name. */
export const encodings = { buffer: BUFFER, utf8: UTF8, json: JSON_CODEC, msgpack: MSGPACK, tuple: TUPLE } as const;

export type EncodingName = keyof typeof encodings;
/** What keyEncoding and valueEncoding take: a name, or a codec of the caller's own. */
export type Encoding = EncodingName | Codec<any, any>;

/** What a codec's decode() gives: the type of keys (values) read through encoding E. */
export type DecodedBy<E> = E extends EncodingName ? ReturnType<(typeof encodings)[E]['decode']> : E extends Codec<unknown, infer Out> ? Out : Buffer;
/** What a codec's encode() takes: the type of keys (values) written through encoding E. */
export type EncodableBy<E> = E extends EncodingName ? Parameters<(typeof encodings)[E]['encode']>[0] : E extends Codec<infer In, unknown> ? In : Uint8Array | string;

/** The codec option `option` names or is; INVALID_ARGUMENT otherwise. */
export function toCodec(option: unknown, what: string): Codec {
  if (option === undefined) return BUFFER as Codec;
  if (typeof option === 'string') {
    if (Object.hasOwn(encodings, option)) return encodings[option as EncodingName] as Codec;
    throw invalidArgument(`option ${what} must be one of ${Object.keys(encodings).join(', ')} or a codec { name, encode, decode }, got ${JSON.stringify(option)}`);
  }
  const c = option as Partial<Codec> | null;
  if (typeof c !== 'object' || c === null || typeof c.encode !== 'function' || typeof c.decode !== 'function' || typeof c.name !== 'string') {
    throw invalidArgument(`option ${what} must be an encoding name or a codec { name, encode, decode }, got ${describe(option)}`);
  }
  return c as Codec;
}

/**
 * The key and value codecs of a database (or of one call that overrides them). Encoding runs
 * the codec, then the checks every key and value gets (type, size limits): INVALID_ARGUMENT
 * for anything either refuses. With both codecs 'buffer', `raw` holds and callers skip the
 * decoding steps altogether.
 */
export class Codecs {
  readonly keys: Codec;
  readonly values: Codec;
  /** Both codecs are 'buffer': stored bytes are what callers pass and get. */
  readonly raw: boolean;

  constructor(keys: Codec, values: Codec) {
    this.keys = keys;
    this.values = values;
    this.raw = keys === BUFFER && values === BUFFER;
  }

  /** The codecs of open() options, or of a call's options over the database's `base`. */
  static of(options: { keyEncoding?: unknown; valueEncoding?: unknown } | undefined, base?: Codecs): Codecs {
    const k = options?.keyEncoding;
    const v = options?.valueEncoding;
    if (base !== undefined && k === undefined && v === undefined) return base;
    const keys = k === undefined && base !== undefined ? base.keys : toCodec(k, 'keyEncoding');
    const values = v === undefined && base !== undefined ? base.values : toCodec(v, 'valueEncoding');
    return new Codecs(keys, values);
  }

  encodeKey(key: unknown, what = 'key'): Uint8Array {
    return toKey(this.keys === BUFFER ? key : encodeWith(this.keys, key, what), what);
  }

  encodeValue(value: unknown, what = 'value'): Uint8Array {
    return toValue(this.values === BUFFER ? value : encodeWith(this.values, value, what), what);
  }

  /** encodeKey() for a key kept past the call (a bound): a copy the caller cannot change. */
  encodeOwnedKey(key: unknown, what: string): Uint8Array {
    const bytes = this.encodeKey(key, what);
    return bytes === key ? Buffer.from(bytes) : bytes;
  }

  decodeKey(bytes: Buffer): unknown {
    return this.keys === BUFFER ? bytes : decodeWith(this.keys, bytes, 'key');
  }

  decodeValue(bytes: Buffer): unknown {
    return this.values === BUFFER ? bytes : decodeWith(this.values, bytes, 'value');
  }

  /** An iterator's entry, decoded. */
  decodeEntry = (entry: [Buffer, Buffer]): [unknown, unknown] => [this.decodeKey(entry[0]), this.decodeValue(entry[1])];
}

function encodeWith(codec: Codec, value: unknown, what: string): Uint8Array {
  let bytes: unknown;
  try {
    bytes = codec.encode(value);
  } catch (err) {
    throw invalidArgument(`${what} cannot be encoded as ${codec.name}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!(bytes instanceof Uint8Array) && typeof bytes !== 'string') {
    throw invalidArgument(`${what}: encoding ${codec.name} gave ${describe(bytes)}, not a Uint8Array`);
  }
  return bytes as Uint8Array;
}

function decodeWith(codec: Codec, bytes: Buffer, what: string): unknown {
  try {
    return codec.decode(bytes);
  } catch (err) {
    if (err instanceof StrataError) throw err;
    const shown = bytes.subarray(0, 32).toString('hex');
    throw invalidArgument(`stored ${what} 0x${shown}${bytes.length > 32 ? '…' : ''} cannot be decoded as ${codec.name}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** A change of db.changes(), its keys and values decoded with the database's encodings. */
export interface DecodedChange<K = Buffer, V = Buffer> {
  /** The sequence number the write resolved to: the highest it used. */
  seq: bigint;
  /** The write's operations, in the order given to batch(). */
  ops: (
    | { type: 'put'; key: K; value: V; expiresAt?: number }
    | { type: 'del'; key: K }
    | { type: 'merge'; key: K; value: Buffer }
    // A range deletion's bounds are bytes (start included, end excluded), never decoded: a
    // bound moved past a key (gt, lte) need not be an encoding of any key.
    | { type: 'clear'; key: Buffer; end?: Buffer }
  )[];
}

/**
 * `feed` with each change's keys and values decoded. Ending it (return(), or leaving a for
 * await loop) ends `feed`. A change that does not decode fails next() with INVALID_ARGUMENT.
 */
export function decodeChanges<K, V>(feed: AsyncIterableIterator<Change>, codecs: Codecs): AsyncIterableIterator<DecodedChange<K, V>> {
  const decode = (change: Change): DecodedChange<K, V> => ({
    seq: change.seq,
    ops: change.ops.map((op) => {
      if (op.type === 'clear') return op.end === undefined ? { type: op.type, key: op.key } : { type: op.type, key: op.key, end: op.end };
      const key = codecs.decodeKey(op.key) as K;
      // A merge operand is the operator's, never encoded: it stays bytes.
      if (op.type === 'merge') return { type: op.type, key, value: op.value! };
      if (op.type === 'del') return { type: op.type, key };
      const value = codecs.decodeValue(op.value!) as V;
      return op.expiresAt === undefined ? { type: 'put', key, value } : { type: 'put', key, value, expiresAt: op.expiresAt };
    }),
  });
  const decoded: AsyncIterableIterator<DecodedChange<K, V>> = {
    next: async () => {
      const r = await feed.next();
      return r.done === true ? r : { done: false, value: decode(r.value) };
    },
    return: async (value?: unknown) => {
      await feed.return?.(value);
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]: () => decoded,
  };
  return decoded;
}
