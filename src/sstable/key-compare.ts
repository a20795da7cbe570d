// Comparison of a key stored inside a block against a caller's key, without making a view
// of the stored bytes: the get and seek paths compare many keys and must not allocate.

/** Compares a[aStart..aEnd) with all of b as unsigned bytes; negative, zero or positive. */
export function compareRange(a: Buffer, aStart: number, aEnd: number, b: Uint8Array): number {
  const aLength = aEnd - aStart;
  const bLength = b.length;
  const n = aLength < bLength ? aLength : bLength;
  // A native call costs more than a short loop; most keys differ within their first bytes.
  if (n > 32) return a.compare(b, 0, bLength, aStart, aEnd);
  for (let i = 0; i < n; i++) {
    const d = a[aStart + i]! - b[i]!;
    if (d !== 0) return d;
  }
  return aLength - bLength;
}

/**
 * Internal-key order of a stored entry (a[aStart..aEnd), aSeq) against (b, bSeq): user key
 * ascending, then sequence descending.
 */
export function compareInternalRange(a: Buffer, aStart: number, aEnd: number, aSeq: number, b: Uint8Array, bSeq: number): number {
  const c = compareRange(a, aStart, aEnd, b);
  if (c !== 0) return c;
  return aSeq > bSeq ? -1 : aSeq < bSeq ? 1 : 0;
}
