// The frame of every block of a table: data, filter, properties and index blocks alike.
//
//   physicalBlock := payload | compression u8 | checksum u32 LE
//   checksum      := xxh32(payload ++ compression, seed 0)
//   compression   := 0  none: the payload is the block's contents
//                  | 1  lz4:  payload := contentsLength u32 LE | LZ4 block of the contents
//                             (the "size-prepended" format of lz4_flex, which lz4-napi's
//                             compressSync writes)
//
// A block handle (format.ts) names the payload: the frame spans handle.size + 5 bytes.
// Compression values are persisted: append, never renumber.

import { compressSync, uncompressSync } from 'lz4-napi';
import { asBuffer, getU32, putU32 } from '../base/bytes.js';
import { xxh32 } from '../base/checksum.js';
import { corruption, StrataError } from '../base/errors.js';
import type { RandomAccessFile } from '../base/fs.js';

export const BLOCK_TRAILER_BYTES = 1 + 4;

export const Compression = { None: 0, Lz4: 1 } as const;
export type Compression = (typeof Compression)[keyof typeof Compression];

/** No block holds more than this (a 256 MiB value, a 64 KiB key and slack); a larger declared length is corruption. */
const MAX_CONTENTS_BYTES = 512 * 1024 * 1024;

/**
 * The payload to store for `contents`: its LZ4 form when `lz4` is set and that saves at least
 * 1/8 of the bytes (decompressing costs read time, so a small gain is not worth it), else
 * `contents` itself.
 */
export function choosePayload(contents: Buffer, lz4: boolean): { payload: Buffer; compression: Compression } {
  if (lz4 && contents.length >= 64) {
    const packed = compressSync(contents);
    if (packed.length <= contents.length - (contents.length >>> 3)) return { payload: packed, compression: Compression.Lz4 };
  }
  return { payload: contents, compression: Compression.None };
}

/**
 * Completes a frame whose payload already sits at out[start..start + payloadLength): writes the
 * compression byte and the checksum after it. Returns the offset after the frame.
 */
export function sealPhysicalBlock(out: Uint8Array, start: number, payloadLength: number, compression: Compression): number {
  const end = start + payloadLength;
  out[end] = compression;
  putU32(out, end + 1, xxh32(out.subarray(start, end + 1)));
  return end + BLOCK_TRAILER_BYTES;
}

/**
 * Reads the physical block whose payload is `size` bytes at `offset`, checks its checksum and
 * returns its contents, decompressed. `what` names the block in CORRUPTION messages.
 */
export function readPhysicalBlock(file: RandomAccessFile, offset: number, size: number, what: string): Buffer {
  let frame: Buffer;
  try {
    frame = asBuffer(file.read(offset, size + BLOCK_TRAILER_BYTES));
  } catch (err) {
    if (err instanceof StrataError && err.code === 'CORRUPTION') throw corruption(file.path, offset, `${what} of ${size} bytes runs past the end of the file`);
    throw err;
  }
  const stored = getU32(frame, size + 1);
  if (xxh32(frame.subarray(0, size + 1)) !== stored) throw corruption(file.path, offset, `${what} checksum mismatch`);
  const compression = frame[size]!;
  const payload = frame.subarray(0, size);
  if (compression === Compression.None) return payload;
  if (compression !== Compression.Lz4) throw corruption(file.path, offset, `${what} has unknown compression ${compression}`);
  const contentsLength = size >= 4 ? getU32(payload, 0) : -1;
  if (contentsLength < 0 || contentsLength > MAX_CONTENTS_BYTES) throw corruption(file.path, offset, `${what} declares an impossible length`);
  let contents: Buffer;
  try {
    contents = uncompressSync(payload);
  } catch {
    throw corruption(file.path, offset, `${what} does not decompress`);
  }
  if (contents.length !== contentsLength) throw corruption(file.path, offset, `${what} decompressed to ${contents.length} bytes, not ${contentsLength}`);
  return contents;
}
