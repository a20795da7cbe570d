// Byte helpers shared by every format: comparison, UTF-8 conversion, varints.

const encoder = new TextEncoder();

/**
 * Keys up to this many bytes are compared in JavaScript: below it a loop costs less than the
 * crossing into native code that Buffer.compare makes (db_bench's keys are 16 bytes).
 */
const NATIVE_COMPARE_BYTES = 64;

/** Lexicographic comparison of unsigned bytes; a prefix sorts first. Negative, zero or positive. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const aLength = a.length;
  const bLength = b.length;
  const n = aLength < bLength ? aLength : bLength;
  if (n > NATIVE_COMPARE_BYTES) return Buffer.compare(a, b);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return aLength - bLength;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && compareBytes(a, b) === 0;
}

/**
 * bytes[start, end) as a plain Uint8Array view: for the write path's per-record checksums,
 * where Buffer#subarray costs about three times as much (its FastBuffer) and a write made two.
 */
export function viewOf(bytes: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset + start, end - start);
}

/** A copy of `bytes` (`bytes.slice()` is not one when `bytes` is a Buffer: Buffer#slice makes a view). */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(bytes);
}

/** A Buffer view over `bytes` without copying. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Number of bytes varint32 encoding of `n` takes. REQUIRES: 0 <= n < 2^32. */
export function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n >>>= 7;
    len++;
  }
  return len;
}

/** Writes `n` as an unsigned LEB128 varint at `offset`; returns the offset after it. */
export function putVarint(buf: Uint8Array, offset: number, n: number): number {
  while (n >= 0x80) {
    buf[offset++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[offset++] = n;
  return offset;
}

/**
 * Reads a varint32 at `offset`. Returns the value and sets `cursor.offset` to the byte after it.
 * Returns -1 if the varint runs past `end` or is longer than 5 bytes (callers report corruption).
 */
export function getVarint(buf: Uint8Array, cursor: { offset: number }, end: number): number {
  let offset = cursor.offset;
  // One byte (below 128) is the common length: no loop, no floating-point power.
  if (offset < end && buf[offset]! < 0x80) {
    cursor.offset = offset + 1;
    return buf[offset]!;
  }
  let result = 0;
  let shift = 0;
  while (offset < end && shift <= 28) {
    const byte = buf[offset++]!;
    result += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) {
      cursor.offset = offset;
      return result;
    }
    shift += 7;
  }
  return -1;
}

/** Writes a non-negative integer below 2^53 as 8 bytes little-endian. */
export function putU64(buf: Uint8Array, offset: number, n: number): void {
  const lo = n >>> 0;
  const hi = Math.floor(n / 0x1_0000_0000);
  buf[offset] = lo;
  buf[offset + 1] = lo >>> 8;
  buf[offset + 2] = lo >>> 16;
  buf[offset + 3] = lo >>> 24;
  buf[offset + 4] = hi;
  buf[offset + 5] = hi >>> 8;
  buf[offset + 6] = hi >>> 16;
  buf[offset + 7] = hi >>> 24;
}

/** Reads 8 bytes little-endian; returns -1 if the value does not fit in 53 bits. */
export function getU64(buf: Uint8Array, offset: number): number {
  const lo = (buf[offset]! | (buf[offset + 1]! << 8) | (buf[offset + 2]! << 16) | (buf[offset + 3]! << 24)) >>> 0;
  const hi = (buf[offset + 4]! | (buf[offset + 5]! << 8) | (buf[offset + 6]! << 16) | (buf[offset + 7]! << 24)) >>> 0;
  if (hi > 0x1f_ffff) return -1;
  return hi * 0x1_0000_0000 + lo;
}

export function putU32(buf: Uint8Array, offset: number, n: number): void {
  buf[offset] = n;
  buf[offset + 1] = n >>> 8;
  buf[offset + 2] = n >>> 16;
  buf[offset + 3] = n >>> 24;
}

export function getU32(buf: Uint8Array, offset: number): number {
  return (buf[offset]! | (buf[offset + 1]! << 8) | (buf[offset + 2]! << 16) | (buf[offset + 3]! << 24)) >>> 0;
}
