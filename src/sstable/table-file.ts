// Telling a table file from anything else before reading it (format.ts owns the bytes): a
// file that does not end in the table magic is not a stratadb table at all, which a caller
// reports differently from a table that is damaged (CORRUPTION from TableReader).

import type { RandomAccessFile } from '../base/index.js';
import { FOOTER_BYTES, TABLE_MAGIC } from './format.js';

/** Whether `file` is long enough for a footer and ends in the table magic. */
export function endsInTableMagic(file: RandomAccessFile): boolean {
  if (file.size < FOOTER_BYTES) return false;
  const tail = file.read(file.size - TABLE_MAGIC.length, TABLE_MAGIC.length);
  return TABLE_MAGIC.every((b, i) => tail[i] === b);
}
