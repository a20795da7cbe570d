// A checkpoint archive: a checkpoint's folder (db.checkpoint()) packed into one stream of
// bytes, as stored in the JetStream object store for new replicas to start from. This file
// owns these bytes: packCheckpoint() writes them, unpackCheckpoint() reads them.
//
//   archive := header | entry* | end
//   header  := magic "STRATCKP" (8 bytes) | version u32 LE | identity (16 bytes) | sequence u64 LE | checksum u32 LE
//   entry   := pathLength u16 LE (1 or more) | path | size u64 LE | contents (size bytes) | checksum u32 LE
//   end     := 0 u16 LE | fileCount u32 LE | checksum u32 LE
//
// identity is the primary's, sequence the one the checkpoint covers (every write at or below
// it is in the files, none above). path is a file's path inside the folder, UTF-8, '/'
// between folder names, never absolute and never with a '..' part. Each checksum is xxh32
// (seed 0): the header's of its bytes before it; an entry's of its path, size and contents;
// end's of its first 6 bytes. fileCount (the entries before it) makes a cut-off archive
// detectable. Versions: 1 as above; an unknown version is NOT_SUPPORTED.
//
// Unpacking writes every file (fsynced) and folder (fsynced) under a new folder and checks each
// file's checksum as it goes; the caller renames the folder into place once it is complete.

import * as fsp from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import * as path from 'node:path';
import { getU32, getU64, ioError, putU32, putU64, StrataError, xxh32, xxh32Streaming, type FileSystem } from '../base/index.js';

const MAGIC = Buffer.from('STRATCKP', 'latin1');
const VERSION = 1;
const HEADER_BYTES = 8 + 4 + 16 + 8 + 4;
const READ_CHUNK_BYTES = 256 * 1024;

export interface ArchiveHeader {
  /** The primary's identity, 32 hex digits. */
  identity: string;
  sequence: number;
}

function encodeHeader(h: ArchiveHeader): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES);
  out.set(MAGIC, 0);
  putU32(out, 8, VERSION);
  out.set(Buffer.from(h.identity, 'hex'), 12);
  putU64(out, 28, h.sequence);
  putU32(out, 36, xxh32(out.subarray(0, 36)));
  return out;
}

/** Every file under `dir`, as paths relative to it with '/' separators, sorted. */
async function filesUnder(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await fsp.readdir(path.join(dir, prefix), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const rel = prefix === '' ? e.name : `${prefix}/${e.name}`;
    if (e.isDirectory()) out.push(...(await filesUnder(dir, rel)));
    else if (e.isFile()) out.push(rel);
  }
  return out;
}

/** The archive of the checkpoint folder `dir`, produced as it is read (one chunk of one file in memory at a time). */
export function packCheckpoint(dir: string, header: ArchiveHeader): ReadableStream<Uint8Array> {
  async function* pieces(): AsyncGenerator<Uint8Array> {
    yield encodeHeader(header);
    const files = await filesUnder(dir);
    for (const rel of files) {
      const file = path.join(dir, rel);
      const name = Buffer.from(rel, 'utf8');
      const size = (await fsp.stat(file)).size;
      const head = new Uint8Array(2 + name.length + 8);
      head[0] = name.length & 0xff;
      head[1] = name.length >>> 8;
      head.set(name, 2);
      putU64(head, 2 + name.length, size);
      const hash = xxh32Streaming();
      hash.update(head.subarray(2));
      yield head;
      let read = 0;
      for await (const chunk of createReadStream(file, { highWaterMark: READ_CHUNK_BYTES })) {
        const bytes = chunk as Buffer;
        read += bytes.length;
        hash.update(bytes);
        yield bytes;
      }
      if (read !== size) throw new StrataError('IO_ERROR', `checkpoint archive: ${file} changed while it was read (${read} bytes, expected ${size})`, { errno: 'EIO' });
      const sum = new Uint8Array(4);
      putU32(sum, 0, hash.digest());
      yield sum;
    }
    const end = new Uint8Array(10);
    putU32(end, 2, files.length);
    putU32(end, 6, xxh32(end.subarray(0, 6)));
    yield end;
  }
  const it = pieces();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const r = await it.next();
        if (r.done === true) controller.close();
        else controller.enqueue(r.value);
      } catch (err) {
        controller.error(err);
      }
    },
    async cancel() {
      await it.return(undefined);
    },
  });
}

/** Reads exact byte counts from a stream of chunks. */
class ByteReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #chunk: Uint8Array = new Uint8Array(0);
  #at = 0;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  /** Up to `max` bytes (at least one), or undefined at the end of the stream. */
  async some(max: number): Promise<Uint8Array | undefined> {
    while (this.#at === this.#chunk.length) {
      const r = await this.#reader.read();
      if (r.done) return undefined;
      this.#chunk = r.value;
      this.#at = 0;
    }
    const n = Math.min(max, this.#chunk.length - this.#at);
    const out = this.#chunk.subarray(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }

  /** Exactly `n` bytes; CORRUPTION when the stream ends first. */
  async exactly(n: number, what: string): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    for (let got = 0; got < n; ) {
      const piece = await this.some(n - got);
      if (piece === undefined) throw new StrataError('CORRUPTION', `checkpoint archive: cut off in ${what}`);
      out.set(piece, got);
      got += piece.length;
    }
    return out;
  }

  release(): void {
    void this.#reader.cancel().catch(() => {});
  }
}

/**
 * Unpacks `archive` into the new folder `dir` (created; its parent must exist): every file
 * checked against its checksum and fsynced, every folder fsynced. Resolves to the header.
 * CORRUPTION when a check fails (the caller removes `dir`).
 */
export async function unpackCheckpoint(fs: FileSystem, archive: ReadableStream<Uint8Array>, dir: string): Promise<ArchiveHeader> {
  const reader = new ByteReader(archive);
  try {
    const head = await reader.exactly(HEADER_BYTES, 'its header');
    if (!Buffer.from(head.subarray(0, 8)).equals(MAGIC)) throw new StrataError('CORRUPTION', 'checkpoint archive: bad magic');
    const version = getU32(head, 8);
    if (version !== VERSION) throw new StrataError('NOT_SUPPORTED', `checkpoint archive format v${version}`);
    if (getU32(head, 36) !== xxh32(head.subarray(0, 36))) throw new StrataError('CORRUPTION', 'checkpoint archive: header checksum mismatch');
    const header = { identity: Buffer.from(head.subarray(12, 28)).toString('hex'), sequence: getU64(head, 28) };
    await fs.mkdir(dir);
    const folders = new Set<string>([dir]);
    for (let count = 0; ; count++) {
      const lengthBytes = await reader.exactly(2, 'an entry');
      const nameLength = lengthBytes[0]! | (lengthBytes[1]! << 8);
      if (nameLength === 0) {
        const end = await reader.exactly(8, 'its end');
        const tail = new Uint8Array(6);
        tail.set(end.subarray(0, 4), 2);
        if (getU32(end, 4) !== xxh32(tail)) throw new StrataError('CORRUPTION', 'checkpoint archive: end checksum mismatch');
        if (getU32(end, 0) !== count) throw new StrataError('CORRUPTION', `checkpoint archive: ${count} files, its end says ${getU32(end, 0)}`);
        break;
      }
      const meta = await reader.exactly(nameLength + 8, 'an entry');
      const rel = Buffer.from(meta.subarray(0, nameLength)).toString('utf8');
      const size = getU64(meta, nameLength);
      if (path.isAbsolute(rel) || rel.split('/').some((part) => part === '..' || part === '.' || part === '') || size < 0) {
        throw new StrataError('CORRUPTION', `checkpoint archive: an entry names ${JSON.stringify(rel)} of size ${size}`);
      }
      const file = path.join(dir, ...rel.split('/'));
      const folder = path.dirname(file);
      if (!folders.has(folder)) {
        await fs.mkdir(folder);
        folders.add(folder);
      }
      const hash = xxh32Streaming();
      hash.update(meta);
      const out = await fs.createWritable(file);
      try {
        for (let left = size; left > 0; ) {
          const piece = await reader.some(Math.min(left, READ_CHUNK_BYTES));
          if (piece === undefined) throw new StrataError('CORRUPTION', `checkpoint archive: cut off in ${rel}`);
          hash.update(piece);
          await out.append(piece.slice());
          left -= piece.length;
        }
        await out.sync();
      } catch (err) {
        throw err instanceof StrataError && err.code === 'CORRUPTION' ? err : ioError('write', file, err);
      } finally {
        await out.close();
      }
      const sum = await reader.exactly(4, `${rel}'s checksum`);
      if (getU32(sum, 0) !== hash.digest()) throw new StrataError('CORRUPTION', `checkpoint archive: ${rel}: checksum mismatch`);
    }
    // Deepest first: a folder's entry is durable once its parent is synced.
    for (const folder of [...folders].sort((a, b) => b.length - a.length)) await fs.syncDir(folder);
    return header;
  } finally {
    reader.release();
  }
}
