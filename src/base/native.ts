// The one loader of the native addon (native/stratadb_io.c, built by node-gyp at install into
// build/Release/stratadb_io.node). Each call in `native` is undefined when the addon is missing,
// fails to load, reports another ABI version, or is turned off by STRATADB_NATIVE; its callers
// (src/base/fs.ts) then take the JavaScript fallback. Nothing else imports the addon.
//
// STRATADB_NATIVE, read once at load:
//   unset or "1"   every call the addon has
//   "0"            none: the fallback everywhere, as where the addon cannot build
//   "a,b"          only the calls named (for benchmarks that weigh one call at a time)

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants } from 'node:os';

/** The version of the addon's exports this loader speaks; native/stratadb_io.c's ABI_VERSION. */
const ABI_VERSION = 20;
const ADDON_PATH = '../../../build/Release/stratadb_io.node';
/** Written by scripts/install.js when node-gyp failed: why, then the build's output. */
const INSTALL_FAILED_LOG = new URL('../../../build/install-failed.log', import.meta.url);

export interface NativeCalls {
  /** pwritev(2) of every chunk at `position`, then fdatasync(2): one thread-pool job. */
  appendAndSync(fd: number, chunks: readonly Uint8Array[], position: number): Promise<number>;
  /** fallocate(2) mode 0: allocates and extends the file to at least offset + length. */
  fallocate(fd: number, offset: number, length: number): Promise<void>;
  /** flock(2) LOCK_EX | LOCK_NB: throws errno EWOULDBLOCK when another open file holds it. */
  flock(fd: number): void;
  /** flock(2) LOCK_UN. */
  funlock(fd: number): void;
  /**
   * A table block (src/sstable/physical-block.ts): pread of the frame whose payload is `size`
   * bytes at `offset`, its xxh32 checked, then the contents (the payload copied, or its LZ4
   * block decompressed) as a Buffer; a failed check returns what failed, as text.
   */
  readBlock(fd: number, offset: number, size: number, noneCode: number, lz4Code: number, maxContents: number): Buffer | string;
  /**
   * readBlock as one job on libuv's thread pool (blocks of megabytes); with `into`, contents
   * that fit it are written there and their length is the answer (getInto: no memory of its
   * own); else contents of their own, a LoadedBlock for adoptBlock.
   */
  readBlockAsync(fd: number, offset: number, size: number, noneCode: number, lz4Code: number, maxContents: number, into?: Uint8Array): Promise<LoadedBlock | number | string>;
  /**
   * readBlockAsync's contents as a Buffer (once): made a turn of the event loop after the read,
   * as it starts a garbage collection (native/block_read.c says why).
   */
  adoptBlock(loaded: LoadedBlock): Buffer;
  /** memmove(3) of view[from, from + length) to its start, on libuv's thread pool (getInto's large value). */
  moveWithinAsync(view: Uint8Array, from: number, length: number): Promise<void>;
  /** mmap(2) of a table file, read-only and shared: a handle for readMappedBlock. */
  mapFile(fd: number, length: number): MappedFile;
  /** munmap(2) of a mapFile handle; later readMappedBlock calls on it throw. Idempotent. */
  unmapFile(mapped: MappedFile): void;
  /**
   * madvise(2) MADV_DONTNEED of the mapping's whole pages below byte `end`: they leave the
   * resident set (not the page cache; a later read faults them back). Returns the bytes released.
   */
  releaseMapped(mapped: MappedFile, end: number): number;
  /**
   * readBlock from a mapped file (no system call) into this thread's scratch buffer
   * (scratchBuffer()): the contents' length, -1 when they would not fit there (read the block
   * with readBlock), or what failed as text. The contents stay there until the next call.
   */
  readMappedBlock(mapped: MappedFile, offset: number, size: number, noneCode: number, lz4Code: number, maxContents: number): number | string;
  /** This thread's scratch buffer (1 MiB): the same ArrayBuffer on every call. */
  scratchBuffer(): ArrayBuffer;
  /**
   * madvise(2) MADV_DONTNEED of the whole pages inside `view`'s memory: they leave the resident
   * set at once and read as zeros when next touched (the memtable pool's idle memory). Returns
   * the bytes released. REQUIRES: nothing needs the contents any more.
   */
  decommit(view: Uint8Array | Int32Array): number;
  /**
   * madvise(2) MADV_HUGEPAGE of the 2 MiB-aligned huge pages inside `view`'s memory, so that
   * the kernel backs them with transparent huge pages when they are first written. Returns
   * where the first begins, in bytes from the view's start, or -1 when none was advised (no
   * aligned 2 MiB inside, or a kernel without THP).
   */
  hugePages(view: Uint8Array | Int32Array): number;
  /**
   * A skip list's memory as encodeSkipListBlock reads it (native/skiplist_blocks.c): its node
   * records, its arena chunks by id, and `layout`, the node fields' offsets and the head's name
   * (src/memtable/skiplist.ts). Holds references to all three. REQUIRES: the list no longer changes.
   */
  /**
   * On libuv's thread pool, one read of each page of the mapping in bytes [start, end) that
   * the page cache holds (mincore(2)), so that the page-table entries exist before a read needs
   * them; resolves with the bytes of the pages read. Reads no page the page cache lacks.
   */
  prefaultMapped(mapped: MappedFile, start: number, end: number): Promise<number>;
  /**
   * A table's index block (its checked contents, entries ending at `entriesEnd`) decoded into
   * TableIndex's arrays: [keys, keyOffsets, seqs, blockOffsets, blockSizes, words, skip]
   * (native/index_decode.c); null when it is not as decodeIndex accepts it (which then says why).
   */
  decodeIndexBlock(data: Uint8Array, entriesEnd: number, dataBlocks: number, dataEnd: number, trailerBytes: number, kinds: number): IndexBlockParts | null;
  /**
   * readMappedBlock, then a point read's search of the block in the scratch buffer
   * (native/block_read.c; BlockIter.seek's search and checks): 0 the block ends before
   * (key, seq), 1 the first entry at or after it has another user key, 2 it is key's (out:
   * seq, kind, value offset and length in the scratch buffer), -1 the contents do not fit the
   * scratch buffer; a string says what failed, about the contents when out[0] is 1, else about
   * the frame (as readMappedBlock's). `kinds`: bit k set for each valid value kind k.
   */
  seekMappedBlock(mapped: MappedFile, offset: number, size: number, noneCode: number, lz4Code: number, maxContents: number, key: Uint8Array, seq: number, kinds: number, out: Float64Array): number | string;
  skipListView(nodes: Int32Array, chunks: readonly Uint8Array[], layout: Int32Array): SkipListView;
  /**
   * A table's point-read search for tableGet (native/table_get.c says what `parts`, `numbers`
   * and `out` hold; src/sstable/table-reader.ts lays them out). Holds references to all of them.
   */
  tableSearch(parts: readonly (Uint8Array | Uint32Array | Int32Array | Float64Array | MappedFile | BlockSlots | null)[], numbers: Float64Array, out: Float64Array): TableSearch;
  /** The blocks of one table file the block cache holds, for tableGet to search in place (native/table_get.c): none at first. */
  blockSlots(count: number): BlockSlots;
  /** Block `i` of `slots` set to `contents` (checked block contents, referenced until cleared), or cleared with null. */
  setBlockSlot(slots: BlockSlots, i: number, contents: Uint8Array | null): void;
  /**
   * A point read of one mapped table in one call: its bloom filter, index search and the
   * search of the data block read from the mapping (as seekMappedBlock's). 0 no entry, 1 found
   * (in the search's `out`, the value in the scratch buffer), 2 the caller goes on from a data
   * block it names (cached, admitted, or of megabytes); a string says what is wrong with it.
   */
  tableGet(search: TableSearch, key: Uint8Array, seq: number): number | string;
  /**
   * Tables a get consults one after another (level 0's, then each deeper level's), for
   * tablesGet: their searches (sharing one `out`), each table's smallest and largest user keys
   * (two bounds a table), each one's smallest sequence number, and where each one's run ends
   * (a level's files are one run, searched by key; a level-0 table is a run of its own). Holds
   * references to the searches.
   */
  tableWalk(searches: readonly TableSearch[], bounds: readonly Uint8Array[], seqs: Float64Array, ends: Uint32Array): TableWalk;
  /**
   * tableGet of the walk's tables from `from` on, skipping those that cannot hold (key, seq),
   * up to the first answer that is not 0, in one call; `out` names the table that gave it
   * (native/table_get.c).
   */
  tablesGet(walk: TableWalk, from: number, key: Uint8Array, seq: number): number | string;
  /**
   * An ingest's pack of sorted pairs as encodeSkipListBlock reads it (native/skiplist_blocks.c):
   * `data` the keys and values back to back, `ends` where each key and each value ends (an even
   * count), every entry at sequence number `seq` with kind `kind`. Holds references to both.
   * Entry i is pair i; the run ends at the pair count. REQUIRES: nothing changes them.
   */
  packView(data: Uint8Array, ends: Uint32Array, seq: number, kind: number): SkipListView;
  /**
   * One data block encoded from the entries of a skipListView, from node state[0] on, as
   * TableBuilder.add and BlockBuilder.add would write them (src/sstable/table-builder.ts, which
   * lays out `state` and reads the status).
   */
  encodeSkipListBlock(view: SkipListView, state: Float64Array, block: Uint8Array, hashes: Uint32Array, lastKey: Uint8Array): number;
  /**
   * A compaction's merge of point entries (native/compaction_merge.c says what the arguments
   * hold; src/compaction/native-merge.ts lays them out): reads nothing until mergeFill. Holds
   * references to all of them.
   */
  mergeView(inputs: readonly [MappedFile, Float64Array][], snapshots: Float64Array, deeper: [Uint8Array, Uint32Array], bounds: [Uint8Array | null, Uint8Array | null], settings: Float64Array): SkipListView;
  /**
   * Merges into the view's queue until it holds a block's worth (state[1] bytes) or the inputs
   * end; the queue's first key in `headKey`. A status, or what is wrong with an input's block.
   */
  mergeFill(view: SkipListView, state: Float64Array, headKey: Uint8Array): number | string;
  /**
   * A table block's LZ4 payload (src/sstable/physical-block.ts: the contents' length u32 LE,
   * then their LZ4 block) written into `out` at `at`; returns the bytes written. REQUIRES
   * (TypeError): room for lz4Bound(contents.length) + 4 bytes there.
   */
  compressLz4(contents: Uint8Array, out: Uint8Array, at: number): number;
  /**
   * A table's bloom filter bits (src/sstable/bloom.ts's format) set in `bits` from
   * hashes[0..count), `probes` a key (native/bloom_build.c). REQUIRES (TypeError): count <=
   * hashes.length, bits not empty, probes 1 to 30.
   */
  buildBloomFilter(hashes: Uint32Array, count: number, bits: Uint8Array, probes: number): void;
  /**
   * Where each of `count` keys goes in a memtable's skip list, the searches overlapped
   * (native/skiplist_search.c, which says what `layout`, `keys` and `preds` hold;
   * src/memtable/skiplist.ts lays them out). 0, or -1 when a link leads outside `nodes`.
   */
  searchSkipList(nodes: Int32Array, layout: Int32Array, keys: Int32Array, count: number, height: number, preds: Int32Array, slots: Int32Array, moreSlots: Int32Array, moreCount: number): number;
  /**
   * Links in the leading entries of an encoded batch that go after every entry of a memtable's
   * skip list, as SkipList.insert would one by one (native/skiplist_append.c says what
   * `layout` and `state` hold; src/memtable/skiplist.ts lays them out). Returns how many; `state`
   * says where it stopped.
   */
  appendToSkipList(nodes: Int32Array, layout: Int32Array, chunk: Uint8Array, slots: Int32Array, heights: Uint8Array, tails: Int32Array, state: Float64Array, batch: Uint8Array): number;
  /** malloc_trim(3): the free memory inside malloc's arenas goes back to the kernel (glibc; elsewhere nothing). */
  trimMemory(): void;
}

/** A blockSlots: opaque to JavaScript. */
export type BlockSlots = object & { readonly __brand: 'BlockSlots' };

/** A tableSearch: opaque to JavaScript. */
export type TableSearch = object & { readonly __brand: 'TableSearch' };

/** decodeIndexBlock's arrays, in TableIndex's terms. */
export type IndexBlockParts = [keys: Buffer, keyOffsets: Uint32Array, seqs: Float64Array, blockOffsets: Float64Array, blockSizes: Uint32Array, words: Uint32Array, skip: number];

/** A tableWalk: opaque to JavaScript. */
export type TableWalk = object & { readonly __brand: 'TableWalk' };

/** A skipListView: opaque to JavaScript. */
export type SkipListView = object & { readonly __brand: 'SkipListView' };

/**
 * An immutable skip list's entries as the addon reads them in place (src/memtable/skiplist.ts
 * gives them, src/sstable/table-builder.ts encodes them): skipListView's arguments, and where
 * the level-0 chain starts and ends.
 */
export interface SkipListEntries {
  readonly nodes: Int32Array;
  readonly chunks: readonly Uint8Array[];
  readonly layout: Int32Array;
  /** The first entry's node, or `end` when the list is empty. */
  readonly first: number;
  /** The name that ends the level-0 chain (the head). */
  readonly end: number;
  /** A view of a node's key. */
  keyOf(node: number): Uint8Array;
}

/** A mapping made by mapFile: opaque to JavaScript. */
export type MappedFile = object & { readonly __brand: 'MappedFile' };
/** A block readBlockAsync read into memory of its own, not yet a Buffer (adoptBlock). */
export type LoadedBlock = object & { readonly __brand: 'LoadedBlock' };

export type NativeCallName = keyof NativeCalls;
export const NATIVE_CALL_NAMES: readonly NativeCallName[] = ['appendAndSync', 'fallocate', 'flock', 'funlock', 'readBlock', 'readBlockAsync', 'adoptBlock', 'moveWithinAsync', 'mapFile', 'unmapFile', 'releaseMapped', 'prefaultMapped', 'decodeIndexBlock', 'readMappedBlock', 'seekMappedBlock', 'blockSlots', 'setBlockSlot', 'tableSearch', 'tableGet', 'tableWalk', 'tablesGet', 'scratchBuffer', 'decommit', 'hugePages', 'skipListView', 'packView', 'encodeSkipListBlock', 'mergeView', 'mergeFill', 'compressLz4', 'buildBloomFilter', 'searchSkipList', 'appendToSkipList', 'trimMemory'];

/** What runs instead of each native call, and what that costs. */
export const FALLBACKS: Readonly<Record<NativeCallName, string>> = {
  appendAndSync: 'a synced write is a write then an fdatasync: two thread-pool trips instead of one',
  fallocate: 'WALs are not preallocated: a sync also commits the file size',
  flock:
    'the directory lock is an abstract Unix socket named after the LOCK file: it keeps out processes ' +
    'in the same network namespace of this machine only (not another container with its own network, ' +
    'nor another machine on a network file system), and any local user can hold the name',
  funlock: 'the socket of the flock fallback is closed instead',
  readBlock: 'a table block read on a block-cache miss is a readSync, an xxh32 in WebAssembly and an LZ4 decompression through lz4-napi: several crossings instead of one',
  readBlockAsync:
    "a block of megabytes read by get() is read and decompressed on the thread pool (fs.read, lz4-napi's uncompress) but checksummed on the main thread in 1 MiB slices, and lz4-napi's buffers are not counted by the garbage collector (more memory held)",
  adoptBlock: 'see readBlockAsync (one goes with the other)',
  moveWithinAsync: "getInto() moves a value of megabytes read with its block into the caller's buffer to the buffer's start on the event loop's thread (about 4 ms for 64 MiB here)",
  mapFile: "a get() that misses the block cache reads the block with readBlock: a pread(2) and a new Buffer for the block (about 6 us more a miss here)",
  unmapFile: 'tables are not mapped (see mapFile)',
  releaseMapped: "a compaction's inputs stay in the resident set as it reads them, until it ends (their pages are the page cache's; a compaction of 250 MB of inputs held them all)",
  prefaultMapped: "the first read of each page of a table's mapping faults it in on the event loop's thread (about 2 us a page on this machine's virtual machine, a few tenths elsewhere): after open(), the first thousands of random gets pay for it (README, \"Native addon\")",
  decodeIndexBlock:
    "a table's index block is decoded in JavaScript when the table opens, a slice at a time with a turn of the event loop between slices: while the code is cold, 7-22 ms of the event loop's thread for a table of 5,000 data blocks, and the first gets after open() wait for it (README, \"Native addon\")",
  readMappedBlock: 'tables are not mapped (see mapFile)',
  seekMappedBlock:
    'a get() that reads a block from a mapped table searches it in JavaScript: a Block and its restart array made for the one read, and a BlockIter seek (about a tenth more time a get)',
  blockSlots: 'see tableGet',
  setBlockSlot: 'see tableGet',
  tableSearch: 'see tableGet',
  tableGet:
    "a get() runs a table's bloom filter, index search and cached blocks' search in JavaScript, and reads other blocks through seekMappedBlock: about a third more time a get of random keys, two thirds more of hot ones (README, \"Native addon\")",
  tableWalk: 'see tablesGet',
  tablesGet: "a get() consults level 0's tables with one call of the addon (tableGet) each, and the JavaScript of each table's lookup: about 0.08 us more a table (README, \"Native addon\")",
  scratchBuffer: 'tables are not mapped (see mapFile)',
  decommit: 'the memory of flushed memtables stays resident in the memtable pool until the next memtables reuse it (up to 2 × memtableBytes per shard more resident memory between fills)',
  hugePages: 'memtable memory is faulted in 4 KiB pages: on this machine about 11 us a page, 180 ms a 64 MiB memtable (README, "Native addon")',
  skipListView: 'a flush encodes its data blocks in JavaScript (see encodeSkipListBlock)',
  packView: "an ingest's tables are encoded in JavaScript, pair by pair through TableBuilder.add (about a third more CPU a pair on the worker threads)",
  encodeSkipListBlock:
    'a flush encodes its data blocks in JavaScript, entry by entry through the memtable iterator: a flush takes about twice as long, and the memtable it writes stays in memory that much longer (README, "Native addon")',
  mergeView: 'see mergeFill',
  mergeFill:
    "a compaction merges its inputs and encodes its outputs' data blocks in JavaScript, entry by entry: the L0→L1 compaction of the bench's reopened 1M-key tree about 1.2 s and 1.5 s of CPU instead of 0.7 s and 0.85 s (README, \"Native addon\")",
  searchSkipList: 'each memtable insert searches the skip list on its own: a commit group of random keys waits for one cache miss after another (README, "Native addon")',
  trimMemory: "free memory inside malloc's arenas stays resident until malloc reuses it (at the peak of a 20M-put fill's compactRange(), 25-50 MB more RSS; README, \"Memory\")",
  appendToSkipList: 'a batch of keys in order is linked into the memtable entry by entry in JavaScript (about 0.2 us more a put in `fillbatch`; README, "Native addon")',
  compressLz4: "blocks are compressed by lz4-napi's compressSync, a Buffer of its own for each block, then copied into the table (README, \"Native addon\")",
  buildBloomFilter: "a table's bloom filter is built in JavaScript: about 18 ns a key instead of 7 on the threads that build tables (README, \"Native addon\")",
};

export interface NativeIoStatus {
  /** 'loaded': the addon is in use (for the calls in `calls`); otherwise why it is not. */
  readonly addon: 'loaded' | 'disabled' | 'missing' | 'abi-mismatch';
  /** The native calls in use; every other call runs its JavaScript fallback. */
  readonly calls: readonly NativeCallName[];
  /** Why the addon is not in use, when it is not: the install's failure, or the load error. */
  readonly reason?: string;
}

interface Addon extends NativeCalls {
  abiVersion: number;
}

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/**
 * The addon's errors carry a numeric `errno`; give them the `code` node:fs errors have (ENOSPC,
 * EBADF, ...) so that ioError() keeps it.
 */
function withCode(err: unknown): unknown {
  const errno = (err as { errno?: unknown } | null)?.errno;
  if (err instanceof Error && typeof errno === 'number') Object.assign(err, { code: errnoNames.get(errno) ?? 'EIO' });
  return err;
}

/** Calls that throw no error with an errno, on a read's hot path: handed out as they are. */
const PLAIN: ReadonlySet<NativeCallName> = new Set(['tableGet', 'tablesGet', 'seekMappedBlock']);

/** The addon's call `name`, its errors given their errno's name as `code`. */
function wrap(addon: Addon, name: NativeCallName): unknown {
  const call = addon[name] as (...args: unknown[]) => unknown;
  if (PLAIN.has(name)) return call;
  return (...args: unknown[]) => {
    try {
      const result = call(...args);
      return result instanceof Promise ? result.catch((err: unknown) => Promise.reject(withCode(err))) : result;
    } catch (err) {
      throw withCode(err);
    }
  };
}

/** Why the addon did not load: the install's recorded build failure, else the load error. */
function whyMissing(err: unknown): string {
  let installLog: string | undefined;
  try {
    installLog = readFileSync(INSTALL_FAILED_LOG, 'utf8');
  } catch {
    // No record: the install script did not run, or the addon was built and then removed.
  }
  if (installLog !== undefined) {
    return `the addon did not build when the package was installed (${installLog.split('\n', 1)[0]}; log: ${INSTALL_FAILED_LOG.pathname})`;
  }
  const message = err instanceof Error ? (err.message.split('\n', 1)[0] ?? '') : String(err);
  if ((err as { code?: unknown } | null)?.code === 'MODULE_NOT_FOUND') {
    return `the addon was never built: the package's install script did not run (npm install --ignore-scripts, or not in the app's allowScripts): ${message}`;
  }
  return message;
}

function load(): { calls: Partial<NativeCalls>; status: NativeIoStatus } {
  const setting = process.env['STRATADB_NATIVE']?.trim() ?? '';
  if (setting === '0') return { calls: {}, status: { addon: 'disabled', calls: [], reason: 'STRATADB_NATIVE=0' } };
  const wanted = setting === '' || setting === '1' ? NATIVE_CALL_NAMES : NATIVE_CALL_NAMES.filter((n) => setting.split(',').includes(n));
  let addon: Addon;
  try {
    addon = createRequire(import.meta.url)(ADDON_PATH) as Addon;
  } catch (err) {
    return { calls: {}, status: { addon: 'missing', calls: [], reason: whyMissing(err) } };
  }
  if (addon.abiVersion !== ABI_VERSION) {
    const reason = `the addon speaks ABI ${String(addon.abiVersion)}, this build ${ABI_VERSION}: rebuild it (npm install)`;
    return { calls: {}, status: { addon: 'abi-mismatch', calls: [], reason } };
  }
  const calls: Partial<Record<NativeCallName, unknown>> = {};
  for (const name of wanted) if (typeof addon[name] === 'function') calls[name] = wrap(addon, name);
  return { calls: calls as Partial<NativeCalls>, status: { addon: 'loaded', calls: Object.keys(calls) as NativeCallName[] } };
}

const loaded = load();

/** The native calls in use; an undefined call means: use the JavaScript fallback. */
export const native: Readonly<Partial<NativeCalls>> = loaded.calls;

/** Which native calls are in use, for stats, tests and benchmarks. */
export const nativeIo: NativeIoStatus = loaded.status;

export interface NativeStatus extends NativeIoStatus {
  /** For each native call not in use, what runs instead and what that weakens. */
  readonly fallbacks: Readonly<Partial<Record<NativeCallName, string>>>;
}

/**
 * Whether stratadb's native addon is in use, which calls, why not, and what runs instead.
 * Decided once, when stratadb is first imported.
 */
export function nativeStatus(): NativeStatus {
  const fallbacks: Partial<Record<NativeCallName, string>> = {};
  for (const name of NATIVE_CALL_NAMES) if (!nativeIo.calls.includes(name)) fallbacks[name] = FALLBACKS[name];
  return { ...nativeIo, calls: [...nativeIo.calls], fallbacks };
}

let warned = false;

/**
 * Emits one process warning, the first time a database opens without the native lock because
 * the addon is missing or stale (not when STRATADB_NATIVE chose the fallback): npm hides a dependency's install output, so
 * this is where an application first hears that the addon did not build.
 */
export function warnFallbackOnce(): void {
  if (warned || nativeIo.addon === 'disabled' || nativeIo.addon === 'loaded') return;
  warned = true;
  process.emitWarning(`stratadb runs without its native addon (${nativeIo.addon}: ${nativeIo.reason ?? ''}); ${FALLBACKS.flock}. See nativeStatus().`, {
    code: 'STRATADB_NO_NATIVE_ADDON',
  });
}
