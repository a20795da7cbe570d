// Readers of just enough of the v1 file formats to say what a golden directory holds, written
// from the format comments (not with the code under test), so that golden.test.ts can check
// that the files still exercise what they are meant to: WAL records of each type, data blocks
// compressed and not, the SHARDS file.
//
//   log file  (src/wal/record-format.ts):
//     file      := magic "STRATLOG" | version u32 LE | record*
//     record    := headerChecksum u32 LE | length u32 LE | type u8 | payloadChecksum u32 LE | payload[length]
//   table     (src/sstable/format.ts, physical-block.ts, block-format.ts):
//     footer    := the last 52 bytes; indexOffset u64 LE at 28, indexSize u32 LE at 36,
//                  formatVersion u32 LE at 40, magic at 44
//     block     := payload | compression u8 (0 none, 1 lz4: contentsLength u32 LE | LZ4 block) | checksum u32 LE
//     index     := entries (shared varint | unshared varint | valueLength varint | key | seq u64 | kind u8 | value)
//                  | restart u32 LE * n | n u32 LE; value = offset varint | size varint of a data block
//   SHARDS    (src/shard/shards-file.ts):
//     magic "STRATSHD" | version u32 LE | shardCount u32 LE | checksum u32 LE

import { uncompressSync } from 'lz4-napi';

const LOG_HEADER_BYTES = 12;
const RECORD_HEADER_BYTES = 13;
const FOOTER_BYTES = 52;

export function logHeader(bytes: Buffer): { magic: string; version: number } {
  return { magic: bytes.subarray(0, 8).toString('latin1'), version: bytes.readUInt32LE(8) };
}

/** The type of every record of a log file, in order (no checksum is checked). */
export function logRecordTypes(bytes: Buffer): number[] {
  const types: number[] = [];
  for (let at = LOG_HEADER_BYTES; at + RECORD_HEADER_BYTES <= bytes.length; ) {
    const length = bytes.readUInt32LE(at + 4);
    const type = bytes[at + 8]!;
    if (type === 0) break; // zeros past the last record (preallocation)
    types.push(type);
    at += RECORD_HEADER_BYTES + length;
  }
  return types;
}

function varint(bytes: Buffer, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[at++]!;
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [value, at];
    shift += 7;
  }
}

export function tableFormatVersion(bytes: Buffer): number {
  return bytes.readUInt32LE(bytes.length - FOOTER_BYTES + 40);
}

/** The compression byte of every data block of a table, in file order. */
export function dataBlockCompressions(bytes: Buffer): number[] {
  const footer = bytes.length - FOOTER_BYTES;
  const indexOffset = Number(bytes.readBigUInt64LE(footer + 28));
  const indexSize = bytes.readUInt32LE(footer + 36);
  const payload = bytes.subarray(indexOffset, indexOffset + indexSize);
  const index = bytes[indexOffset + indexSize] === 1 ? uncompressSync(payload) : payload;
  const numRestarts = index.readUInt32LE(index.length - 4);
  const entriesEnd = index.length - 4 - 4 * numRestarts;
  const out: number[] = [];
  for (let at = 0; at < entriesEnd; ) {
    let unshared: number;
    let valueLength: number;
    [, at] = varint(index, at);
    [unshared, at] = varint(index, at);
    [valueLength, at] = varint(index, at);
    at += unshared + 8 + 1;
    const [offset, next] = varint(index, at);
    const [size] = varint(index, next);
    out.push(bytes[offset + size]!);
    at += valueLength;
  }
  return out;
}

export function shardsFile(bytes: Buffer): { magic: string; version: number; shards: number } {
  return { magic: bytes.subarray(0, 8).toString('latin1'), version: bytes.readUInt32LE(8), shards: bytes.readUInt32LE(12) };
}
