// Conversion and checking of what callers pass in: keys, values, write and read options.
// Everything here runs before anything is written, and throws INVALID_ARGUMENT.

import { compareBytes, invalidArgument, ValueKind, withExpiry, type BatchEntry, type MergeOperator } from './base/index.js';
import type { Encoding } from './encoding.js';

export type Key = Uint8Array | string;
export type Value = Uint8Array | string;

/** Largest key, in bytes (UTF-8 bytes for a string). The empty key is valid. */
export const MAX_KEY_BYTES = 64 * 1024;
/** Largest value, in bytes. */
export const MAX_VALUE_BYTES = 256 * 1024 * 1024;

export function toKey(key: unknown, what = 'key'): Uint8Array {
  const bytes = bytesOf(key, what);
  if (bytes.length > MAX_KEY_BYTES) throw invalidArgument(`${what} is ${bytes.length} bytes; the limit is ${MAX_KEY_BYTES}`);
  return bytes;
}

export function toValue(value: unknown, what = 'value'): Uint8Array {
  const bytes = bytesOf(value, what);
  if (bytes.length > MAX_VALUE_BYTES) throw invalidArgument(`${what} is ${bytes.length} bytes; the limit is ${MAX_VALUE_BYTES}`);
  return bytes;
}

/**
 * A merge operand: what the operator's toOperand() makes of `operand` (the 'add' operator
 * takes a bigint or a number), else bytes or a string as for a value. INVALID_ARGUMENT when
 * the database has no merge operator.
 */
export function toOperand(operand: unknown, op: MergeOperator | undefined, what = 'operand'): Uint8Array {
  if (op === undefined) throw invalidArgument('merge needs a merge operator: open the database with option mergeOperator');
  const bytes = op.toOperand === undefined ? bytesOf(operand, what) : op.toOperand(operand, what);
  if (bytes.length > MAX_VALUE_BYTES) throw invalidArgument(`${what} is ${bytes.length} bytes; the limit is ${MAX_VALUE_BYTES}`);
  return bytes;
}

const NO_BYTES = new Uint8Array(0);

/**
 * The bytes of a key or value: a string's UTF-8 encoding, or the Uint8Array itself. Refused
 * here, before anything is written, rather than failing half way through a write:
 * - a string with a lone surrogate, which has no UTF-8 encoding (Buffer.from would turn it
 *   into U+FFFD silently, so '\uD800' and '\uDC00' would be one key);
 * - a Uint8Array over a detached buffer, or over a resizable one shrunk below it: it reads as
 *   empty, yet copying from it throws. Only an empty view can be one of these.
 */
function bytesOf(input: unknown, what: string): Uint8Array {
  if (typeof input === 'string') {
    if (!(input as unknown as WellFormedString).isWellFormed()) {
      throw invalidArgument(`${what} is a string with a lone surrogate, which has no UTF-8 encoding`);
    }
    return Buffer.from(input, 'utf8');
  }
  if (input instanceof Uint8Array) {
    if (input.length === 0) {
      try {
        NO_BYTES.set(input);
      } catch {
        throw invalidArgument(`${what} is a Uint8Array over a detached (or shrunk) ArrayBuffer`);
      }
    }
    return input;
  }
  throw invalidArgument(`${what} must be a Uint8Array or a string, got ${describe(input)}`);
}

/** String.prototype.isWellFormed (ES2024; Node 20 has it, the ES2022 lib does not declare it). */
interface WellFormedString {
  isWellFormed(): boolean;
}

/**
 * The options object `options` of `what`, or undefined when absent. An unknown name is
 * INVALID_ARGUMENT: a misspelt `sync` must not lose durability in silence.
 */
export function optionsObject(options: unknown, what: string, known: readonly string[]): Record<string, unknown> | undefined {
  if (options === undefined || options === null) return undefined;
  if (typeof options !== 'object' || Array.isArray(options)) throw invalidArgument(`${what} must be an object, got ${describe(options)}`);
  for (const name of Object.keys(options)) {
    if (!known.includes(name)) throw invalidArgument(`unknown ${what.replace(/s$/, '')} ${JSON.stringify(name)}; known: ${known.join(', ')}`);
  }
  return options as Record<string, unknown>;
}

export interface WriteOptions {
  /** Resolve only after fdatasync (survives power loss). Default: the database's `sync` option. */
  sync?: boolean;
  /** Encode the keys with this encoding instead of the database's keyEncoding. */
  keyEncoding?: Encoding;
  /** Encode the values with this encoding instead of the database's valueEncoding. */
  valueEncoding?: Encoding;
}

/** The conditions a put or a del may carry (at most one of the two). */
export interface WriteConditions {
  /** Write only if the key has no value (never written, or deleted). */
  ifAbsent?: boolean;
  /**
   * Write only if the key has a value and the write that stored it has this sequence number
   * or a lower one (the `seq` of db.getEntry(), or any later sequence number): the key is
   * unchanged since. A bigint, or a number that is a non-negative integer.
   */
  ifSeq?: bigint | number;
}

/** What put() and del() take: durability and, optionally, a condition. */
export interface ConditionalWriteOptions extends WriteOptions, WriteConditions {}

/** What put() takes: those, and a time-to-live. */
export interface PutOptions extends ConditionalWriteOptions {
  /**
   * Milliseconds after which the value reads as deleted (a positive integer); default: the
   * database's `ttl` option (0: never).
   */
  ttl?: number;
}

/** A write's condition on the key of one of its entries, checked just before the batch is submitted. */
export interface Condition {
  /** The entry (of the batch) whose key the condition is on. */
  readonly entry: number;
  /** ifAbsent when undefined; else the largest sequence number the key's value may have. */
  readonly maxSeq: number | undefined;
}

const WRITE_OPTIONS = ['sync', 'keyEncoding', 'valueEncoding'] as const;
const CONDITIONAL_WRITE_OPTIONS = ['sync', 'ifAbsent', 'ifSeq', 'keyEncoding', 'valueEncoding'] as const;
const PUT_OPTIONS = ['sync', 'ifAbsent', 'ifSeq', 'ttl', 'keyEncoding', 'valueEncoding'] as const;

export function toSync(options: unknown, fallback: boolean): boolean {
  return syncOf(optionsObject(options, 'write options', WRITE_OPTIONS), fallback);
}

function syncOf(o: Record<string, unknown> | undefined, fallback: boolean): boolean {
  const sync = o?.['sync'];
  if (sync === undefined) return fallback;
  if (typeof sync !== 'boolean') throw invalidArgument(`option sync must be a boolean, got ${describe(sync)}`);
  return sync;
}

/** put()'s and del()'s options: their sync, and the condition on `key` if they carry one. */
export function toConditionalWrite(options: unknown, fallbackSync: boolean): { sync: boolean; condition: Condition | undefined } {
  const o = optionsObject(options, 'write options', CONDITIONAL_WRITE_OPTIONS);
  return { sync: syncOf(o, fallbackSync), condition: conditionOf(o, 0, 'option') };
}

/** put()'s options: toConditionalWrite()'s, and its ttl (undefined: none given). */
export function toPutOptions(options: unknown, fallbackSync: boolean): { sync: boolean; condition: Condition | undefined; ttl: number | undefined } {
  const o = optionsObject(options, 'write options', PUT_OPTIONS);
  return { sync: syncOf(o, fallbackSync), condition: conditionOf(o, 0, 'option'), ttl: ttlOf(o?.['ttl'], 'option ttl') };
}

/** A ttl as given: undefined, or a positive integer of milliseconds (else INVALID_ARGUMENT). */
function ttlOf(ttl: unknown, what: string): number | undefined {
  if (ttl === undefined) return undefined;
  if (typeof ttl !== 'number' || !Number.isSafeInteger(ttl) || ttl <= 0) {
    throw invalidArgument(`${what} must be a positive integer of milliseconds, got ${typeof ttl === 'number' ? String(ttl) : describe(ttl)}`);
  }
  return ttl;
}

/** A put entry: a Put, or with `ttl` a PutWithExpiry that expires `ttl` ms after `nowMs`. */
export function putEntry(key: Uint8Array, value: Uint8Array, ttl: number | undefined, nowMs: () => number): BatchEntry {
  if (ttl === undefined) return { kind: ValueKind.Put, key, value };
  return { kind: ValueKind.PutWithExpiry, key, value: withExpiry(value, nowMs() + ttl) };
}

/**
 * The condition that `o` (write options or a batch operation) puts on the key of the batch's
 * entry `entry`, or undefined.
 * ifAbsent: false is no condition; ifSeq beyond any sequence number a database can reach
 * (2^53 - 1) is clamped, as every value then meets it.
 */
function conditionOf(o: Record<string, unknown> | undefined, entry: number, what: string): Condition | undefined {
  const ifAbsent = o?.['ifAbsent'];
  const ifSeq = o?.['ifSeq'];
  if (ifAbsent !== undefined && typeof ifAbsent !== 'boolean') throw invalidArgument(`${what} ifAbsent must be a boolean, got ${describe(ifAbsent)}`);
  if (ifSeq === undefined) return ifAbsent === true ? { entry, maxSeq: undefined } : undefined;
  if (ifAbsent === true) throw invalidArgument(`give at most one of ifAbsent and ifSeq (${what}s)`);
  let seq: number;
  if (typeof ifSeq === 'bigint' && ifSeq >= 0n) seq = ifSeq > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(ifSeq);
  else if (typeof ifSeq === 'number' && Number.isSafeInteger(ifSeq) && ifSeq >= 0) seq = ifSeq;
  else throw invalidArgument(`${what} ifSeq must be a non-negative bigint or integer, got ${typeof ifSeq === 'number' || typeof ifSeq === 'bigint' ? String(ifSeq) : describe(ifSeq)}`);
  return { entry, maxSeq: seq };
}

/** A merge operand: bytes or a string, or for the 'add' operator also a bigint or a safe integer. Never encoded. */
export type Operand = Value | bigint | number;

/** The keys a clear() covers: at most one lower bound (gt, gte), at most one upper (lt, lte); none: all. */
export interface RangeOptions<KIn = Key> {
  gt?: KIn;
  gte?: KIn;
  lt?: KIn;
  lte?: KIn;
}

const RANGE_OPTIONS = ['gt', 'gte', 'lt', 'lte'] as const;

/**
 * A range as a RangeDelete entry: key = its first key, value = the first key after it (empty:
 * none). undefined for a range that holds no key (gte 'a', lt 'a'); INVALID_ARGUMENT for a
 * lower bound above the upper one, or two bounds on one side.
 */
export function toRangeDelete(range: Record<string, unknown> | undefined, what: string, encodeKey: (key: unknown, what: string) => Uint8Array = toKey): BatchEntry | undefined {
  const gt = range?.['gt'];
  const gte = range?.['gte'];
  const lt = range?.['lt'];
  const lte = range?.['lte'];
  if (gt !== undefined && gte !== undefined) throw invalidArgument(`${what}: give at most one of gt and gte`);
  if (lt !== undefined && lte !== undefined) throw invalidArgument(`${what}: give at most one of lt and lte`);
  const lower = gte !== undefined ? encodeKey(gte, `${what} gte`) : gt !== undefined ? encodeKey(gt, `${what} gt`) : undefined;
  const upper = lt !== undefined ? encodeKey(lt, `${what} lt`) : lte !== undefined ? encodeKey(lte, `${what} lte`) : undefined;
  if (lower !== undefined && upper !== undefined && compareBytes(lower, upper) > 0) throw invalidArgument(`${what}: the lower bound is above the upper bound`);
  // [start, end): a bound that excludes k (gt) or includes it (lte) moves to k's successor, k ++ 00.
  const start = lower === undefined ? EMPTY : gt !== undefined ? successor(lower) : Buffer.from(lower);
  const end = upper === undefined ? EMPTY : lte !== undefined ? successor(upper) : Buffer.from(upper);
  if (upper !== undefined && compareBytes(start, end) >= 0) return undefined;
  return { kind: ValueKind.RangeDelete, key: start, value: end };
}

/** clear()'s range argument. */
export function toClearRange(range: unknown, encodeKey?: (key: unknown, what: string) => Uint8Array): BatchEntry | undefined {
  return toRangeDelete(optionsObject(range, 'clear range', RANGE_OPTIONS), 'clear range', encodeKey);
}

/** The smallest key after `key`. */
function successor(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out.set(key);
  return out;
}


export type BatchOperation<KIn = Key, VIn = Value> = (
  | { type: 'put'; key: KIn; value: VIn; ttl?: number }
  | { type: 'del'; key: KIn }
  | { type: 'merge'; key: KIn; value: Operand }
  | ({ type: 'clear' } & RangeOptions<KIn>)
) &
  WriteConditions;
/**
 * What batch() takes: a BatchOperation, or the same object built without a type annotation,
 * where TypeScript widens `type` to string (`const ops = [{ type: 'put', key, value }]`).
 * `type` is checked at run time either way.
 */
export interface BatchOperationLike<KIn = Key, VIn = Value> extends WriteConditions, RangeOptions<KIn> {
  type: string;
  key?: KIn;
  value?: VIn | Operand | undefined;
  ttl?: number | undefined;
}

/** Turns a batch's keys and values into bytes (the database's encodings; by default toKey and toValue). */
export interface EntryEncoder {
  encodeKey(key: unknown, what: string): Uint8Array;
  encodeValue(value: unknown, what: string): Uint8Array;
}

const AS_BYTES: EntryEncoder = { encodeKey: toKey, encodeValue: toValue };

const EMPTY = new Uint8Array(0);

/**
 * The entries of a batch; the operations' conditions (ifAbsent, ifSeq) are pushed to
 * `conditions`. A merge needs the database's `mergeOperator`.
 */
export function toBatch(
  ops: unknown,
  conditions: Condition[] = [],
  encoder: EntryEncoder = AS_BYTES,
  mergeOperator?: MergeOperator,
  nowMs: () => number = Date.now,
): BatchEntry[] {
  if (!Array.isArray(ops)) throw invalidArgument('batch operations must be an array');
  const entries: BatchEntry[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as { type?: unknown; key?: unknown; value?: unknown; ifAbsent?: unknown; ifSeq?: unknown; ttl?: unknown } | null;
    if (typeof op !== 'object' || op === null) throw invalidArgument(`batch operation ${i} must be an object`);
    // Each field is read once: a getter could answer differently a second time.
    const type = op.type;
    let entry: BatchEntry;
    if (type === 'put') {
      const ttl = ttlOf(op.ttl, `batch operation ${i} ttl`);
      entry = putEntry(encoder.encodeKey(op.key, `batch operation ${i} key`), encoder.encodeValue(op.value, `batch operation ${i} value`), ttl, nowMs);
    } else if (type === 'del') {
      entry = { kind: ValueKind.Delete, key: encoder.encodeKey(op.key, `batch operation ${i} key`), value: EMPTY };
    } else if (type === 'merge') {
      entry = { kind: ValueKind.Merge, key: encoder.encodeKey(op.key, `batch operation ${i} key`), value: toOperand(op.value, mergeOperator, `batch operation ${i} operand`) };
    } else if (type === 'clear') {
      const o = optionsObject(op, `batch operation ${i}`, ['type', ...RANGE_OPTIONS]);
      const range = toRangeDelete(o, `batch operation ${i}`, (k, what) => encoder.encodeKey(k, what));
      if (range === undefined) continue;
      entry = range;
    } else {
      throw invalidArgument(`batch operation ${i} has type ${typeof type === 'string' ? JSON.stringify(type) : describe(type)}; expected 'put', 'del', 'merge' or 'clear'`);
    }
    entries.push(entry);
    const condition = conditionOf({ ifAbsent: op.ifAbsent, ifSeq: op.ifSeq }, entries.length - 1, `batch operation ${i}`);
    if (condition) conditions.push(condition);
  }
  return entries;
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object';
  return typeof v;
}
