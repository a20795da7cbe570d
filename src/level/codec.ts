// Data crossing between abstract-level's private API and stratadb. abstract-level encodes
// user data to one of the three formats the adapter declares ('buffer', 'view', 'utf8') and
// names the format it wants back; stratadb stores bytes, takes a Uint8Array or a string
// (stored as UTF-8) and returns fresh Buffers. So 'buffer' and 'view' cost nothing beyond
// stratadb's own copy, and 'utf8' costs one UTF-8 decode.

import { MAX_KEY_BYTES, MAX_VALUE_BYTES, type Snapshot } from '../index.js';
import { LevelError } from './errors.js';
import { StrataSnapshot } from './snapshot.js';

/** The formats of the private API, as abstract-level names them. */
export type Format = 'buffer' | 'view' | 'utf8';

/** Data in one of those formats: a Buffer, a Uint8Array or a string. */
export type Encoded = Uint8Array | string;

/** Converts stratadb's output to `format`. */
export type Decoder = (bytes: Buffer) => Encoded;

const asBuffer: Decoder = (bytes) => bytes;
const asView: Decoder = (bytes) => new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const asUtf8: Decoder = (bytes) => bytes.toString('utf8');

export function decoderFor(format: string): Decoder {
  return format === 'utf8' ? asUtf8 : format === 'view' ? asView : asBuffer;
}

/**
 * The bytes of `key`, checked against stratadb's limit here so that an oversized key fails
 * with LEVEL_INVALID_KEY (stratadb would say INVALID_ARGUMENT, for a key or a value alike).
 * A string is converted once, here; stratadb takes the bytes as they are.
 */
export function keyBytes(key: Encoded): Uint8Array {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  if (bytes.byteLength > MAX_KEY_BYTES) {
    throw new LevelError('LEVEL_INVALID_KEY', `key is ${bytes.byteLength} bytes; the limit is ${MAX_KEY_BYTES}`);
  }
  return bytes;
}

/** As keyBytes(), for a value: LEVEL_INVALID_VALUE over stratadb's limit. */
export function valueBytes(value: Encoded): Uint8Array {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  if (bytes.byteLength > MAX_VALUE_BYTES) {
    throw new LevelError('LEVEL_INVALID_VALUE', `value is ${bytes.byteLength} bytes; the limit is ${MAX_VALUE_BYTES}`);
  }
  return bytes;
}

/** The stratadb snapshot behind abstract-level's `snapshot` option, or undefined for none. */
export function innerSnapshot(snapshot: unknown): Snapshot | undefined {
  if (snapshot === undefined || snapshot === null) return undefined;
  if (!(snapshot instanceof StrataSnapshot)) throw new TypeError('option snapshot must be a snapshot of a StrataLevel database');
  return snapshot.inner;
}

/** Write options abstract-level forwards that stratadb knows: only `sync`. */
export function writeOptions(options: { sync?: unknown }): { sync: boolean } | undefined {
  // A non-boolean sync is passed on for stratadb to refuse (INVALID_ARGUMENT).
  return options.sync === undefined ? undefined : { sync: options.sync as boolean };
}
