// The table file (.sst): its overall layout, block handles and footer. The formats of the
// parts have their own owners: physical-block.ts (the checksummed frame of every block),
// block-format.ts (data and index blocks), bloom.ts (the filter block), properties.ts.
//
//   table      := dataBlock+ | filterBlock | propertiesBlock | indexBlock | footer
//   *Block     := a physical block (physical-block.ts)
//   indexBlock := a block in the data block format (block-format.ts), restart interval 1,
//                 one entry per data block, in file order:
//                   key   = a separator (user key, seq) with last(i) <= separator < first(i+1)
//                           in internal order; it is last(i) itself, or (u, MAX_SEQ) for a
//                           user key u with last(i).user < u < first(i+1).user
//                   kind  = Put (1)
//                   value = handle of data block i
//   handle     := offset varint | size varint         (LEB128, up to 2^53)
//                 offset: of the block's first byte in the file; size: its payload's bytes,
//                 the 5-byte trailer excluded (the block spans size + 5 bytes)
//   footer     := checksum u32 LE                                            (bytes  0..4)
//               | filterOffset u64 LE | filterSize u32 LE                    (bytes  4..16)
//               | propertiesOffset u64 LE | propertiesSize u32 LE            (bytes 16..28)
//               | indexOffset u64 LE | indexSize u32 LE                      (bytes 28..40)
//               | formatVersion u32 LE                                       (bytes 40..44)
//               | magic 73 74 72 61 74 61 d8 5e ("strata" d8 5e)             (bytes 44..52)
//   checksum   := xxh32(footer bytes 4..52, seed 0)
//
// The footer is FOOTER_BYTES long in every format version, starts with its checksum and ends
// with the version and the magic, so that a reader can tell a damaged footer (CORRUPTION) from
// a table written by a newer format (NOT_SUPPORTED) before it interprets anything else.
//
// Format versions (persisted; append, never renumber):
//   1  the layout above (stratadb 0.1)

import { getU32, getU64, putU32, putU64 } from '../base/bytes.js';
import { xxh32 } from '../base/checksum.js';
import { corruption, StrataError } from '../base/errors.js';

export const TABLE_FORMAT_VERSION = 1;
export const TABLE_MAGIC: readonly number[] = [0x73, 0x74, 0x72, 0x61, 0x74, 0x61, 0xd8, 0x5e];
export const FOOTER_BYTES = 52;

export interface BlockHandle {
  offset: number;
  size: number;
}

export interface Footer {
  filter: BlockHandle;
  properties: BlockHandle;
  index: BlockHandle;
  formatVersion: number;
}

export function encodeFooter(footer: Footer): Uint8Array {
  const out = new Uint8Array(FOOTER_BYTES);
  putU64(out, 4, footer.filter.offset);
  putU32(out, 12, footer.filter.size);
  putU64(out, 16, footer.properties.offset);
  putU32(out, 24, footer.properties.size);
  putU64(out, 28, footer.index.offset);
  putU32(out, 36, footer.index.size);
  putU32(out, 40, footer.formatVersion);
  out.set(TABLE_MAGIC, 44);
  putU32(out, 0, xxh32(out.subarray(4)));
  return out;
}

/**
 * Decodes the footer, the last FOOTER_BYTES of `file` (`footerOffset` is where it starts).
 * Throws CORRUPTION for a bad magic or checksum, NOT_SUPPORTED for another format version.
 */
export function decodeFooter(bytes: Uint8Array, file: string, footerOffset: number): Footer {
  for (let i = 0; i < TABLE_MAGIC.length; i++) {
    if (bytes[44 + i] !== TABLE_MAGIC[i]) throw corruption(file, footerOffset + 44, 'bad table magic (not a stratadb table, or a damaged footer)');
  }
  if (xxh32(bytes.subarray(4, FOOTER_BYTES)) !== getU32(bytes, 0)) throw corruption(file, footerOffset, 'footer checksum mismatch');
  const formatVersion = getU32(bytes, 40);
  if (formatVersion !== TABLE_FORMAT_VERSION) {
    throw new StrataError('NOT_SUPPORTED', `table format v${formatVersion} in ${file} (this build reads v${TABLE_FORMAT_VERSION})`);
  }
  const handle = (at: number, what: string): BlockHandle => {
    const offset = getU64(bytes, at);
    if (offset < 0) throw corruption(file, footerOffset + at, `${what} offset out of range`);
    return { offset, size: getU32(bytes, at + 8) };
  };
  return { filter: handle(4, 'filter'), properties: handle(16, 'properties'), index: handle(28, 'index'), formatVersion };
}

/** Bytes encodeHandle needs. */
export function handleLength(h: BlockHandle): number {
  return varint53Length(h.offset) + varint53Length(h.size);
}

/** Writes `h` at out[offset..]; returns the offset after it. */
export function encodeHandle(out: Uint8Array, offset: number, h: BlockHandle): number {
  return putVarint53(out, putVarint53(out, offset, h.offset), h.size);
}

/**
 * Decodes a handle that must fill buf[start..end) exactly into `out` (reused by the read
 * path, which must not allocate). Returns false when the bytes are not one handle.
 */
export function decodeHandleInto(buf: Uint8Array, start: number, end: number, out: BlockHandle): boolean {
  const offset = getVarint53(buf, start, end);
  if (offset < 0) return false;
  const size = getVarint53(buf, varintEnd, end);
  if (size < 0 || varintEnd !== end) return false;
  out.offset = offset;
  out.size = size;
  return true;
}

// LEB128 varints up to 2^53 (base/bytes.ts's varints stop at 2^32, too small for offsets).

function varint53Length(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    len++;
  }
  return len;
}

function putVarint53(buf: Uint8Array, offset: number, n: number): number {
  while (n >= 0x80) {
    buf[offset++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[offset++] = n;
  return offset;
}

/** Where the last getVarint53 stopped; a module variable so that decoding allocates nothing. */
let varintEnd = 0;

/** Reads a varint at buf[offset..end); -1 if it runs past `end` or exceeds 2^53. */
function getVarint53(buf: Uint8Array, offset: number, end: number): number {
  let result = 0;
  let scale = 1;
  while (offset < end && scale <= 2 ** 49) {
    const byte = buf[offset++]!;
    result += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      varintEnd = offset;
      return result <= Number.MAX_SAFE_INTEGER ? result : -1;
    }
    scale *= 0x80;
  }
  return -1;
}
