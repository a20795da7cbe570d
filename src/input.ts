// Conversion and checking of what callers pass in: keys, values, write and read options.
// Everything here runs before anything is written, and throws INVALID_ARGUMENT.

import { invalidArgument, ValueKind, type BatchEntry } from './base/index.js';

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

/**
 * toKey() for a key kept past the call (an iterator's bounds, a compaction's range): a copy,
 * so that the caller reusing its buffer cannot move the bound afterwards.
 */
export function toOwnedKey(key: unknown, what: string): Uint8Array {
  const bytes = toKey(key, what);
  return typeof key === 'string' ? bytes : Buffer.from(bytes);
}

export function toValue(value: unknown, what = 'value'): Uint8Array {
  const bytes = bytesOf(value, what);
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
}

const WRITE_OPTIONS = ['sync'] as const;

export function toSync(options: unknown, fallback: boolean): boolean {
  const sync = optionsObject(options, 'write options', WRITE_OPTIONS)?.['sync'];
  if (sync === undefined) return fallback;
  if (typeof sync !== 'boolean') throw invalidArgument(`option sync must be a boolean, got ${describe(sync)}`);
  return sync;
}

export type BatchOperation = { type: 'put'; key: Key; value: Value } | { type: 'del'; key: Key };
/**
 * What batch() takes: a BatchOperation, or the same object built without a type annotation,
 * where TypeScript widens `type` to string (`const ops = [{ type: 'put', key, value }]`).
 * `type` is checked at run time either way.
 */
export interface BatchOperationLike {
  type: string;
  key: Key;
  value?: Value | undefined;
}

const EMPTY = new Uint8Array(0);

export function toBatch(ops: unknown): BatchEntry[] {
  if (!Array.isArray(ops)) throw invalidArgument('batch operations must be an array');
  const entries: BatchEntry[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as { type?: unknown; key?: unknown; value?: unknown } | null;
    if (typeof op !== 'object' || op === null) throw invalidArgument(`batch operation ${i} must be an object`);
    // Each field is read once: a getter could answer differently a second time.
    const type = op.type;
    if (type === 'put') {
      entries.push({ kind: ValueKind.Put, key: toKey(op.key, `batch operation ${i} key`), value: toValue(op.value, `batch operation ${i} value`) });
    } else if (type === 'del') {
      entries.push({ kind: ValueKind.Delete, key: toKey(op.key, `batch operation ${i} key`), value: EMPTY });
    } else {
      throw invalidArgument(`batch operation ${i} has type ${typeof type === 'string' ? JSON.stringify(type) : describe(type)}; expected 'put' or 'del'`);
    }
  }
  return entries;
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object';
  return typeof v;
}
