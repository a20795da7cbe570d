// The table file (.sst): its overall layout, block handles, meta-index and footer. The formats
// of the parts have their own owners: physical-block.ts (the checksummed frame of every block),
// block-format.ts (data and index blocks), bloom.ts (the filter block), properties.ts,
// range-del-block.ts (the range-deletion block).
//
// Format version 2 (written since range deletions; see the version list at the end):
//
//   table      := dataBlock* | filterBlock | rangeDelBlock? | metaIndexBlock | propertiesBlock
//               | indexBlock | footer
//   *Block     := a physical block (physical-block.ts)
//   metaIndexBlock := count varint | metaEntry{count}          (entries in ascending name order)
//   metaEntry  := nameLength varint | name (ASCII) | handle
//                 names: "filter" (always), "rangedel" (when the table holds range tombstones)
//                 An unknown name is refused (NOT_SUPPORTED): a block a reader does not know
//                 could change what the table means, so a new block needs a new version.
//   indexBlock := a block in the data block format (block-format.ts), restart interval 1,
//                 one entry per data block, in file order:
//                   key   = a separator (user key, seq) with last(i) <= separator < first(i+1)
//                           in internal order; it is last(i) itself, or (u, MAX_SEQ) for a
//                           user key u with last(i).user < u < first(i+1).user
//                   kind  = Put (1)
//                   value = handle of data block i
//                 A table with no data block (it holds range tombstones only) has an index
//                 block of empty contents.
//   handle     := offset varint | size varint         (LEB128, up to 2^53)
//                 offset: of the block's first byte in the file; size: its payload's bytes,
//                 the 5-byte trailer excluded (the block spans size + 5 bytes)
//   footer     := checksum u32 LE                                            (bytes  0..4)
//               | metaIndexOffset u64 LE | metaIndexSize u32 LE              (bytes  4..16)
//               | propertiesOffset u64 LE | propertiesSize u32 LE            (bytes 16..28)
//               | indexOffset u64 LE | indexSize u32 LE                      (bytes 28..40)
//               | formatVersion u32 LE                                       (bytes 40..44)
//               | magic 73 74 72 61 74 61 d8 5e ("strata" d8 5e)             (bytes 44..52)
//   checksum   := xxh32(footer bytes 4..52, seed 0)
//
// The blocks from the filter on lie back to back, in the order above, before the footer.
//
// Format version 1 (stratadb 0.1; still read, never written):
//
//   table      := dataBlock+ | filterBlock | propertiesBlock | indexBlock | footer
//   footer     := as in version 2, but bytes 4..16 hold the filter block's handle
//                 (filterOffset u64 LE | filterSize u32 LE); there is no meta-index.
//
// The footer is FOOTER_BYTES long in every format version, starts with its checksum and ends
// with the version and the magic, so that a reader can tell a damaged footer (CORRUPTION) from
// a table written by a newer format (NOT_SUPPORTED) before it interprets anything else.
//
// Format versions (persisted; append, never renumber):
//   1  the version 1 layout above (stratadb 0.1)
//   2  meta-index block (filter, range deletions); range-deletion block; properties with a
//      range deletion count; tables of range tombstones only (no data block)

import { getU32, getU64, putU32, putU64 } from '../base/bytes.js';
import { xxh32 } from '../base/checksum.js';
import { corruption, StrataError } from '../base/errors.js';

/** The version this build writes. */
export const TABLE_FORMAT_VERSION = 2;
/** Every version this build reads. */
export const READABLE_TABLE_FORMAT_VERSIONS: readonly number[] = [1, 2];
/** Meta-index names (format version 2). */
export const META_FILTER = 'filter';
export const META_RANGE_DEL = 'rangedel';
export const TABLE_MAGIC: readonly number[] = [0x73, 0x74, 0x72, 0x61, 0x74, 0x61, 0xd8, 0x5e];
export const FOOTER_BYTES = 52;

export interface BlockHandle {
  offset: number;
  size: number;
}

export interface Footer {
  /** Version 1: the filter block. Version 2: the meta-index block. */
  meta: BlockHandle;
  properties: BlockHandle;
  index: BlockHandle;
  formatVersion: number;
}

export function encodeFooter(footer: Footer): Uint8Array {
  const out = new Uint8Array(FOOTER_BYTES);
  putU64(out, 4, footer.meta.offset);
  putU32(out, 12, footer.meta.size);
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
  if (!READABLE_TABLE_FORMAT_VERSIONS.includes(formatVersion)) {
    throw new StrataError('NOT_SUPPORTED', `table format v${formatVersion} in ${file} (this build reads v${READABLE_TABLE_FORMAT_VERSIONS.join(', v')})`);
  }
  const handle = (at: number, what: string): BlockHandle => {
    const offset = getU64(bytes, at);
    if (offset < 0) throw corruption(file, footerOffset + at, `${what} offset out of range`);
    return { offset, size: getU32(bytes, at + 8) };
  };
  return { meta: handle(4, formatVersion === 1 ? 'filter' : 'meta-index'), properties: handle(16, 'properties'), index: handle(28, 'index'), formatVersion };
}

/** Encodes a meta-index block's contents: `blocks` by name (written in ascending name order). */
export function encodeMetaIndex(blocks: ReadonlyMap<string, BlockHandle>): Buffer {
  const names = [...blocks.keys()].sort();
  const parts: number[] = [];
  const scratch = new Uint8Array(20);
  const varint = (n: number) => parts.push(...scratch.subarray(0, putVarint53(scratch, 0, n)));
  varint(names.length);
  for (const name of names) {
    varint(name.length);
    for (let i = 0; i < name.length; i++) parts.push(name.charCodeAt(i) & 0x7f);
    parts.push(...scratch.subarray(0, encodeHandle(scratch, 0, blocks.get(name)!)));
  }
  return Buffer.from(parts);
}

/**
 * Decodes a meta-index block's contents. Throws CORRUPTION (naming `file` and the block's
 * `fileOffset`) for malformed bytes, NOT_SUPPORTED for a name this build does not know.
 */
export function decodeMetaIndex(b: Uint8Array, file: string, fileOffset: number): Map<string, BlockHandle> {
  const bad = (what: string) => corruption(file, fileOffset, `meta-index block: ${what}`);
  const blocks = new Map<string, BlockHandle>();
  let p = 0;
  const varint = (what: string) => {
    const n = getVarint53(b, p, b.length);
    if (n < 0) throw bad(`malformed ${what}`);
    p = varintEnd;
    return n;
  };
  const count = varint('count');
  for (let i = 0; i < count; i++) {
    const nameLength = varint('name length');
    if (p + nameLength > b.length) throw bad(`name ${i} runs past the block`);
    const name = String.fromCharCode(...b.subarray(p, p + nameLength));
    p += nameLength;
    const offset = varint('block offset');
    const size = varint('block size');
    if (name !== META_FILTER && name !== META_RANGE_DEL) throw new StrataError('NOT_SUPPORTED', `${file}: meta block ${JSON.stringify(name)} is from a newer stratadb`);
    if (blocks.has(name)) throw bad(`block ${name} named twice`);
    blocks.set(name, { offset, size });
  }
  if (p !== b.length) throw bad('trailing bytes');
  if (!blocks.has(META_FILTER)) throw bad('no filter block');
  return blocks;
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
