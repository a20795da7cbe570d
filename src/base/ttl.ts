// Time-to-live: a put that expires. Its entry has kind PutWithExpiry (4) and a value of
//
//   value := expiresAtMs u64 LE | userValue
//
// expiresAtMs is wall-clock milliseconds since the Unix epoch (the database's clock, an option
// tests inject), fixed when the write is submitted: now + ttl. At and after that moment the
// entry reads as a deletion of its key: it hides older versions, as a Delete does, and
// compaction's ttl filter (src/compaction/filters.ts) turns it into one or drops it. Readers
// ask liveValue() with the time they read at; nothing else here knows about clocks.

import { getU64, putU64 } from './bytes.js';
import { ValueKind } from './internal-key.js';

export const EXPIRY_BYTES = 8;

/** The stored value of a put of `value` that expires at `expiresAtMs`. */
export function withExpiry(value: Uint8Array, expiresAtMs: number): Uint8Array {
  const out = new Uint8Array(EXPIRY_BYTES + value.length);
  putU64(out, 0, expiresAtMs);
  out.set(value, EXPIRY_BYTES);
  return out;
}

/** When a PutWithExpiry value expires (ms since the epoch). REQUIRES: at least EXPIRY_BYTES long. */
export function expiresAt(stored: Uint8Array): number {
  return getU64(stored, 0);
}

/**
 * The value a reader at wall-clock `nowMs` sees in an entry of `kind` storing `stored`: a
 * view of the user's value, or undefined when the entry reads as absent (a Delete, an expired
 * put, a range deletion).
 */
export function liveValue(kind: ValueKind, stored: Uint8Array, nowMs: number): Uint8Array | undefined {
  if (kind === ValueKind.Put) return stored;
  if (kind === ValueKind.PutWithExpiry && stored.length >= EXPIRY_BYTES && getU64(stored, 0) > nowMs) return stored.subarray(EXPIRY_BYTES);
  return undefined;
}

/** Whether an entry of `kind` storing `stored` has expired at `nowMs` (false for any other kind). */
export function isExpired(kind: ValueKind, stored: Uint8Array, nowMs: number): boolean {
  return kind === ValueKind.PutWithExpiry && (stored.length < EXPIRY_BYTES || getU64(stored, 0) <= nowMs);
}
