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

import { createRequire } from 'node:module';
import { asBuffer, getU32, putU32 } from '../base/bytes.js';
import { xxh32, xxh32InSlices } from '../base/checksum.js';
import { corruption, ioError, StrataError } from '../base/errors.js';
import type { RandomAccessFile } from '../base/fs.js';
import { isValueKind, kindBits, type ValueKind } from '../base/internal-key.js';
import { nextTurn } from '../base/loop-turns.js';
import { native, type LoadedBlock } from '../base/native.js';

export const BLOCK_TRAILER_BYTES = 1 + 4;

/**
 * lz4-napi, loaded at its first use: with the native addon every block is compressed and
 * decompressed there, and lz4-napi (its own native library: importing stratadb took about 5 MiB
 * more resident memory while it was loaded up front) serves only the paths without it.
 */
let lz4napi: typeof import('lz4-napi') | undefined;
function lz4Napi(): typeof import('lz4-napi') {
  return (lz4napi ??= createRequire(import.meta.url)('lz4-napi') as typeof import('lz4-napi'));
}

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
    const packed = lz4Napi().compressSync(contents);
    if (worthCompressing(packed.length, contents.length)) return { payload: packed, compression: Compression.Lz4 };
  }
  return { payload: contents, compression: Compression.None };
}

/** Whether a payload of `packed` bytes for contents of `length` saves the eighth that makes it worth decompressing. */
function worthCompressing(packed: number, length: number): boolean {
  return packed <= length - (length >>> 3);
}

/** The most bytes the LZ4 block of `n` bytes takes (lz4's LZ4_COMPRESSBOUND; native/lz4_compress.c). */
function lz4Bound(n: number): number {
  return n + Math.floor(n / 255) + 16;
}

/** Bytes putPayload() may write for contents of `length` bytes. */
export function payloadRoom(length: number, lz4: boolean): number {
  return lz4 && native.compressLz4 !== undefined ? Math.max(length, 4 + lz4Bound(length)) : length;
}

/**
 * Writes the payload to store for `contents` at out[at..] (room: payloadRoom()), as
 * choosePayload() chooses it: compressed by the addon straight into `out` where it is built
 * (no Buffer of its own a block), else by choosePayload(), then copied.
 */
export function putPayload(contents: Buffer, lz4: boolean, out: Buffer, at: number): { length: number; compression: Compression } {
  const compressLz4 = native.compressLz4;
  if (compressLz4 === undefined || !lz4 || contents.length < 64) {
    const { payload, compression } = choosePayload(contents, lz4);
    payload.copy(out, at);
    return { length: payload.length, compression };
  }
  const packed = compressLz4(contents, out, at);
  if (worthCompressing(packed, contents.length)) return { length: packed, compression: Compression.Lz4 };
  contents.copy(out, at);
  return { length: contents.length, compression: Compression.None };
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
 * What the native readBlock calls answer: the block's contents, or (a string) what is wrong
 * with the block, which becomes CORRUPTION naming the file and offset.
 */
function nativeContents(answer: Buffer | string, file: RandomAccessFile, offset: number, what: string): Buffer {
  if (typeof answer === 'string') throw corruption(file.path, offset, `${what} ${answer}`);
  return answer;
}

/**
 * Reads the physical block whose payload is `size` bytes at `offset`, checks its checksum and
 * returns its contents, decompressed. `what` names the block in CORRUPTION messages.
 */
export function readPhysicalBlock(file: RandomAccessFile, offset: number, size: number, what: string): Buffer {
  const readBlock = native.readBlock;
  if (readBlock !== undefined && file.fd !== undefined) {
    let answer: Buffer | string;
    try {
      answer = readBlock(file.fd, offset, size, Compression.None, Compression.Lz4, MAX_CONTENTS_BYTES);
    } catch (err) {
      throw ioError('read', file.path, err);
    }
    return nativeContents(answer, file, offset, what);
  }
  let frame: Buffer;
  try {
    frame = asBuffer(file.read(offset, size + BLOCK_TRAILER_BYTES));
  } catch (err) {
    throw pastTheEnd(err, file, offset, size, what);
  }
  if (xxh32(frame.subarray(0, size + 1)) !== getU32(frame, size + 1)) throw corruption(file.path, offset, `${what} checksum mismatch`);
  const payload = checkedPayload(frame, size, file.path, offset, what);
  if (payload.contentsLength < 0) return payload.bytes;
  let contents: Buffer;
  try {
    contents = lz4Napi().uncompressSync(payload.bytes);
  } catch {
    throw corruption(file.path, offset, `${what} does not decompress`);
  }
  return checkedContents(contents, payload.contentsLength, file.path, offset, what);
}

/**
 * The contents length the frame of the block at `offset` declares: its payload's for an
 * uncompressed block, the LZ4 payload's length prefix otherwise. Read with no check, as a hint
 * of how to read the block (large-blocks.ts): the read that follows checks everything, so a
 * frame that cannot be read here answers `size` and fails there.
 */
export function declaredContentsLength(file: RandomAccessFile, offset: number, size: number): number {
  try {
    if (size < 4 || file.read(offset + size, 1)[0] !== Compression.Lz4) return size;
    return getU32(file.read(offset, 4), 0);
  } catch {
    return size;
  }
}

/** A Buffer over this thread's native scratch buffer, made on first use. */
let scratch: Buffer | undefined;

/** Whether readPhysicalBlockTransient() can read at all: the addon's four calls it needs. */
export const transientReads = native.mapFile !== undefined && native.unmapFile !== undefined && native.readMappedBlock !== undefined && native.scratchBuffer !== undefined;

/**
 * readPhysicalBlock() for a point read that takes one entry out of the block and lets it go:
 * from the file's mapping into the native addon's scratch buffer, with no system call and no
 * allocation but the view returned. The view's bytes change on the next call: nothing may
 * keep it (or a view into it) past the read. Undefined where that path is not open (no
 * addon, a file that cannot be mapped, contents larger than the scratch buffer): the caller
 * reads with readPhysicalBlock(). The same checks, and the same CORRUPTION messages.
 */
export function readPhysicalBlockTransient(file: RandomAccessFile, offset: number, size: number, what: string): Buffer | undefined {
  if (!transientReads) return undefined;
  const mapped = file.mapped?.();
  if (mapped === undefined) return undefined;
  let answer: number | string;
  try {
    answer = native.readMappedBlock!(mapped, offset, size, Compression.None, Compression.Lz4, MAX_CONTENTS_BYTES);
  } catch (err) {
    throw ioError('read', file.path, err);
  }
  if (typeof answer === 'string') throw corruption(file.path, offset, `${what} ${answer}`);
  if (answer < 0) return undefined;
  scratch ??= Buffer.from(native.scratchBuffer!());
  return scratch.subarray(0, answer);
}

/**
 * Lets the pages of `file`'s mapping below byte `end` leave the resident set (native
 * releaseMapped), for a reader that will not come back to them; nothing without a mapping.
 */
export function releaseMappedBelow(file: RandomAccessFile, end: number): void {
  const mapped = file.mapped?.();
  if (mapped !== undefined) native.releaseMapped?.(mapped, end);
}

/**
 * Maps in the pages of `file`'s mapping in bytes [start, end) that the page cache holds, off
 * the event loop's thread (native prefaultMapped); resolves with their bytes, 0 without a
 * mapping or the addon's call.
 */
export function prefaultMappedRange(file: RandomAccessFile, start: number, end: number): Promise<number> {
  const mapped = native.prefaultMapped === undefined ? undefined : file.mapped?.();
  return mapped === undefined ? Promise.resolve(0) : native.prefaultMapped!(mapped, start, end);
}

/** Whether seekPhysicalBlockTransient() can run: the transient reads and the addon's seek. */
export const transientSeeks = transientReads && native.seekMappedBlock !== undefined;
/** Every value kind's bit, for the addon's check of an entry's kind (isValueKind). */
export const VALUE_KINDS = kindBits(isValueKind);
/** The codes and limits the addon's block reads check: noneCode, lz4Code, maxContents, kinds (native/table_get.c's numbers). */
export const BLOCK_CHECKS: readonly number[] = [Compression.None, Compression.Lz4, MAX_CONTENTS_BYTES, VALUE_KINDS];

/** A view of `length` bytes at `start` of this thread's native scratch buffer (its bytes change on the next read). */
export function scratchView(start: number, length: number): Buffer {
  scratch ??= Buffer.from(native.scratchBuffer!());
  return scratch.subarray(start, start + length);
}

/**
 * CORRUPTION for what the addon's search of a data block at `offset` of `path` reported: about
 * the block's contents (the search's own words) or about its frame (named as a data block).
 */
export function seekCorruption(path: string, offset: number, contents: boolean, what: string): StrataError {
  return corruption(path, offset, contents ? what : `data block ${what}`);
}

/** seekPhysicalBlockTransient()'s answers. */
export const SEEK_PAST_END = 0;
export const SEEK_OTHER_KEY = 1;
export const SEEK_FOUND = 2;
/** What the addon's seek found: [contents error, seq, kind, value offset, value length]. */
const seekOut = new Float64Array(5);

/**
 * A point read of one block of a mapped table, all in the addon (readPhysicalBlockTransient,
 * then BlockIter.seek's search for the first entry at or after (key, seq), with its checks and
 * messages): SEEK_PAST_END (no such entry in the block), SEEK_OTHER_KEY (the first has another
 * user key), or SEEK_FOUND, the entry then in `found`, its value a view of the scratch buffer
 * (as readPhysicalBlockTransient's: its bytes change on the next read of the thread). Undefined
 * where the path is not open (transientSeeks false, a file not mapped, contents larger than
 * the scratch buffer): the caller reads the block.
 */
export function seekPhysicalBlockTransient(
  file: RandomAccessFile,
  offset: number,
  size: number,
  key: Uint8Array,
  seq: number,
  found: { seq: number; kind: ValueKind; value: Uint8Array },
): number | undefined {
  const mapped = file.mapped?.();
  if (mapped === undefined) return undefined;
  let answer: number | string;
  try {
    answer = native.seekMappedBlock!(mapped, offset, size, Compression.None, Compression.Lz4, MAX_CONTENTS_BYTES, key, seq, VALUE_KINDS, seekOut);
  } catch (err) {
    throw ioError('read', file.path, err);
  }
  if (typeof answer === 'string') throw seekCorruption(file.path, offset, seekOut[0] === 1, answer);
  if (answer < 0) return undefined;
  if (answer === SEEK_FOUND) {
    found.seq = seekOut[1]!;
    found.kind = seekOut[2] as ValueKind;
    found.value = scratchView(seekOut[3]!, seekOut[4]!);
  }
  return answer;
}

/**
 * readPhysicalBlock() for blocks of megabytes, with the least work on the event loop's
 * thread: all of it on libuv's thread pool through the native readBlockAsync (its contents
 * made a Buffer by adoptBlock a turn later, for the garbage collector's sake); without it, the
 * read and the decompression (RandomAccessFile.readAsync, lz4-napi's uncompress) there and
 * the checksum a slice at a time with turns of the loop between slices. The same checks, in the same order: no byte is decompressed before its checksum
 * matched. Falls back to the synchronous read where the file has no readAsync. With `into`
 * and the addon, contents that fit it are written there (the answer a view of it): a read for
 * getInto, with no memory of its own for the garbage collector to count.
 */
export async function readPhysicalBlockAsync(file: RandomAccessFile, offset: number, size: number, what: string, into?: Uint8Array): Promise<Buffer> {
  const { readBlockAsync, adoptBlock } = native;
  if (readBlockAsync !== undefined && adoptBlock !== undefined && file.fd !== undefined) {
    let answer: LoadedBlock | number | string;
    try {
      answer = await readBlockAsync(file.fd, offset, size, Compression.None, Compression.Lz4, MAX_CONTENTS_BYTES, into);
    } catch (err) {
      throw ioError('read', file.path, err);
    }
    if (typeof answer === 'number') return Buffer.from(into!.buffer, into!.byteOffset, answer);
    if (typeof answer === 'string') return nativeContents(answer, file, offset, what);
    // Its Buffer starts a garbage collection: made from the check phase, so that the loop's
    // timers run before the collection's end (native/block_read.c, adoptBlock).
    await nextTurn();
    return adoptBlock(answer);
  }
  let frame: Buffer;
  try {
    frame = asBuffer(file.readAsync === undefined ? file.read(offset, size + BLOCK_TRAILER_BYTES) : await file.readAsync(offset, size + BLOCK_TRAILER_BYTES));
  } catch (err) {
    throw pastTheEnd(err, file, offset, size, what);
  }
  if ((await xxh32InSlices(frame.subarray(0, size + 1))) !== getU32(frame, size + 1)) throw corruption(file.path, offset, `${what} checksum mismatch`);
  const payload = checkedPayload(frame, size, file.path, offset, what);
  if (payload.contentsLength < 0) return payload.bytes;
  let contents: Buffer;
  try {
    contents = await lz4Napi().uncompress(payload.bytes);
  } catch {
    throw corruption(file.path, offset, `${what} does not decompress`);
  }
  return checkedContents(contents, payload.contentsLength, file.path, offset, what);
}

/** A short read (the file ends inside the block) as CORRUPTION naming the block. */
function pastTheEnd(err: unknown, file: RandomAccessFile, offset: number, size: number, what: string): unknown {
  if (err instanceof StrataError && err.code === 'CORRUPTION') return corruption(file.path, offset, `${what} of ${size} bytes runs past the end of the file`);
  return err;
}

/**
 * The payload of a frame whose checksum matched, and the length its contents declare when it
 * is compressed (-1 when it is not).
 */
function checkedPayload(frame: Buffer, size: number, path: string, offset: number, what: string): { bytes: Buffer; contentsLength: number } {
  const compression = frame[size]!;
  const bytes = frame.subarray(0, size);
  if (compression === Compression.None) return { bytes, contentsLength: -1 };
  if (compression !== Compression.Lz4) throw corruption(path, offset, `${what} has unknown compression ${compression}`);
  const contentsLength = size >= 4 ? getU32(bytes, 0) : -1;
  if (contentsLength < 0 || contentsLength > MAX_CONTENTS_BYTES) throw corruption(path, offset, `${what} declares an impossible length`);
  return { bytes, contentsLength };
}

function checkedContents(contents: Buffer, contentsLength: number, path: string, offset: number, what: string): Buffer {
  if (contents.length !== contentsLength) throw corruption(path, offset, `${what} decompressed to ${contents.length} bytes, not ${contentsLength}`);
  return contents;
}
