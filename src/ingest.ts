// `stratadb/ingest`: writing sorted pairs to a table file anywhere (another process, another
// machine), for db.ingest() to take later; and reading such files back for it.
//
// A file written here is a stratadb table (src/sstable/format.ts) whose entries are all puts
// at sequence number 0: the sequence number is the ingest's, given when it is installed (the
// tables it builds carry the real one). db.ingest() reads the files' pairs in order and builds
// its own tables from them, so a file may hold keys of every shard.

import { closedError, compareBytes, invalidArgument, loadChecksum, NodeFileSystem, ValueKind, type FileSystem } from './base/index.js';
import { endsInTableMagic, TableBuilder, TableReader } from './sstable/index.js';
import { toKey, toValue, type Key, type Value } from './input.js';
import { nextTurn } from './base/loop-turns.js';

export interface TableFileWriterOptions {
  /** Target size of a data block before compression, in bytes. Default 4096. */
  blockBytes?: number;
  /** 'lz4' (default) or 'none'. */
  compression?: 'lz4' | 'none';
  /** Bloom filter bits per key, 0 to 64. Default 10. */
  bloomBitsPerKey?: number;
  /** The file system to write through (default: the real one). */
  fs?: FileSystem;
}

const WRITER_OPTIONS = ['blockBytes', 'compression', 'bloomBitsPerKey', 'fs'] as const;
/** Finished blocks are appended once this many bytes wait. */
const DRAIN_BYTES = 1024 * 1024;

/**
 * Writes one table file of strictly ascending keys. add() each pair, then finish(), which
 * resolves once the file is complete and fsynced. abort() (or a failed add/finish) removes it.
 */
export class TableFileWriter {
  readonly path: string;
  readonly #fs: FileSystem;
  readonly #builder: TableBuilder;
  #last: Uint8Array | undefined;
  #entries = 0;
  #done = false;

  private constructor(path: string, fs: FileSystem, builder: TableBuilder) {
    this.path = path;
    this.#fs = fs;
    this.#builder = builder;
  }

  /** Creates (replacing) the file `path`. */
  static async create(path: string, options: TableFileWriterOptions = {}): Promise<TableFileWriter> {
    if (typeof path !== 'string' || path.length === 0) throw invalidArgument('TableFileWriter: path must be a non-empty string');
    if (typeof options !== 'object' || options === null) throw invalidArgument('TableFileWriter: options must be an object');
    for (const name of Object.keys(options)) {
      if (!(WRITER_OPTIONS as readonly string[]).includes(name)) throw invalidArgument(`TableFileWriter: unknown option ${name}`);
    }
    await loadChecksum();
    const fs = options.fs ?? new NodeFileSystem();
    const builderOptions = {
      ...(options.blockBytes === undefined ? {} : { blockBytes: options.blockBytes }),
      ...(options.compression === undefined ? {} : { compression: options.compression }),
      ...(options.bloomBitsPerKey === undefined ? {} : { bloomBitsPerKey: options.bloomBitsPerKey }),
    };
    const file = await fs.createWritable(path);
    let builder: TableBuilder;
    try {
      builder = new TableBuilder(file, builderOptions);
    } catch (err) {
      await file.close().catch(() => {});
      await fs.unlink(path).catch(() => {});
      throw err;
    }
    return new TableFileWriter(path, fs, builder);
  }

  /** Pairs added so far. */
  get entries(): number {
    return this.#entries;
  }

  /**
   * Adds one pair. REQUIRES: `key` sorts after the key added before (checked: INVALID_ARGUMENT,
   * and the pair is not added). Returns a promise when buffered blocks are being written: await
   * it before the next add() to bound memory.
   */
  add(key: Key, value: Value): Promise<void> | undefined {
    if (this.#done) throw closedError(`table writer ${this.path}`);
    const k = toKey(key);
    const v = toValue(value);
    if (this.#last !== undefined && compareBytes(k, this.#last) <= 0) {
      throw invalidArgument(`TableFileWriter: keys must be strictly ascending (pair ${this.#entries} ${compareBytes(k, this.#last) === 0 ? 'repeats' : 'sorts before'} the key before it)`);
    }
    this.#builder.add(k, 0, ValueKind.Put, v);
    this.#last = Uint8Array.from(k);
    this.#entries++;
    return this.#builder.pendingBytes >= DRAIN_BYTES ? this.#builder.drain() : undefined;
  }

  /** Completes the file and fsyncs it; resolves to its size and entry count. An empty writer fails (INVALID_ARGUMENT). */
  async finish(): Promise<{ entries: number; fileSize: number }> {
    if (this.#done) throw closedError(`table writer ${this.path}`);
    if (this.#entries === 0) {
      await this.abort();
      throw invalidArgument(`TableFileWriter: ${this.path} has no pairs (a table needs at least one)`);
    }
    this.#done = true;
    try {
      const { fileSize } = await this.#builder.finish();
      return { entries: this.#entries, fileSize };
    } catch (err) {
      await this.#builder.abandon().catch(() => {});
      await this.#fs.unlink(this.path).catch(() => {});
      throw err;
    }
  }

  /** Closes and removes the file. Idempotent. */
  async abort(): Promise<void> {
    this.#done = true;
    await this.#builder.abandon().catch(() => {});
    await this.#fs.unlink(this.path).catch(() => {});
  }
}

/**
 * The pairs of table files, file after file, each file's in key order. A file that is not a
 * stratadb table is INVALID_ARGUMENT; a damaged one CORRUPTION (naming the file), met when its
 * bytes are read; an entry that is not a put INVALID_ARGUMENT.
 * @internal db.ingest() reads files through it.
 */
export async function* tableFilePairs(fs: FileSystem, files: readonly string[]): AsyncGenerator<[Uint8Array, Uint8Array]> {
  await loadChecksum();
  for (const path of files) {
    const file = fs.openReadable(path);
    let reader: TableReader;
    try {
      if (!endsInTableMagic(file)) throw invalidArgument(`ingest: ${path} is not a stratadb table file`);
      reader = TableReader.open(file, 0, undefined);
    } catch (err) {
      file.close();
      throw err;
    }
    const it = reader.iterator();
    reader.close();
    try {
      let n = 0;
      for (it.seekToFirst(); it.valid(); it.next()) {
        if (it.kind() !== ValueKind.Put) throw invalidArgument(`ingest: ${path} holds a deletion; only puts can be ingested`);
        yield [Buffer.from(it.key()), Buffer.from(it.value())];
        // Give the event loop a turn now and then: the reads are synchronous.
        if (++n % 4096 === 0) await nextTurn();
      }
    } finally {
      it.close();
    }
  }
}
