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
  let bytes: Uint8Array;
  if (typeof key === 'string') bytes = Buffer.from(key, 'utf8');
  else if (key instanceof Uint8Array) bytes = key;
  else throw invalidArgument(`${what} must be a Uint8Array or a string, got ${describe(key)}`);
  if (bytes.length > MAX_KEY_BYTES) throw invalidArgument(`${what} is ${bytes.length} bytes; the limit is ${MAX_KEY_BYTES}`);
  return bytes;
}

export function toValue(value: unknown): Uint8Array {
  let bytes: Uint8Array;
  if (typeof value === 'string') bytes = Buffer.from(value, 'utf8');
  else if (value instanceof Uint8Array) bytes = value;
  else throw invalidArgument(`value must be a Uint8Array or a string, got ${describe(value)}`);
  if (bytes.length > MAX_VALUE_BYTES) throw invalidArgument(`value is ${bytes.length} bytes; the limit is ${MAX_VALUE_BYTES}`);
  return bytes;
}

export interface WriteOptions {
  /** Resolve only after fdatasync (survives power loss). Default: the database's `sync` option. */
  sync?: boolean;
}

export function toSync(options: unknown, fallback: boolean): boolean {
  if (options === undefined || options === null) return fallback;
  if (typeof options !== 'object') throw invalidArgument('write options must be an object');
  const sync = (options as WriteOptions).sync;
  if (sync === undefined) return fallback;
  if (typeof sync !== 'boolean') throw invalidArgument(`option sync must be a boolean, got ${describe(sync)}`);
  return sync;
}

export type BatchOperation = { type: 'put'; key: Key; value: Value } | { type: 'del'; key: Key };

const EMPTY = new Uint8Array(0);

export function toBatch(ops: unknown): BatchEntry[] {
  if (!Array.isArray(ops)) throw invalidArgument('batch operations must be an array');
  const entries: BatchEntry[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as { type?: unknown; key?: unknown; value?: unknown } | null;
    if (typeof op !== 'object' || op === null) throw invalidArgument(`batch operation ${i} must be an object`);
    if (op.type === 'put') {
      entries.push({ kind: ValueKind.Put, key: toKey(op.key, `batch operation ${i} key`), value: toValue(op.value) });
    } else if (op.type === 'del') {
      entries.push({ kind: ValueKind.Delete, key: toKey(op.key, `batch operation ${i} key`), value: EMPTY });
    } else {
      throw invalidArgument(`batch operation ${i} has type ${describe(op.type)}; expected 'put' or 'del'`);
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
