// Reads a table (format.ts). open() checks the footer and reads the meta-index (format
// version 2), filter, range-deletion, properties and index blocks once; data blocks are read
// on demand, checksummed, and kept in the block cache. Reads are synchronous (pread through
// RandomAccessFile), except that an asynchronous read defers blocks of megabytes
// (large-blocks.ts). A get() that misses the cache reads the block from the file's mapping
// into the native scratch buffer and copies out the one value it returns, unless the cache
// admits the block (block-cache.ts: its second miss in a while), so that a random read costs
// no system call and no block-sized allocation.
//
// Lifetime: the reader holds one reference for its owner and one per open iterator; close()
// drops the owner's, and the file closes when the last reference goes, so an iterator stays
// valid after its reader was closed (for example evicted from the TableCache).

import { asBuffer } from '../base/bytes.js';
import { closedError, corruption, ioError } from '../base/errors.js';
import type { FileSystem, RandomAccessFile } from '../base/fs.js';
import type { MappedFile } from '../base/native.js';
import { MAX_SEQ, type SeqNum, type ValueKind } from '../base/internal-key.js';
import type { RangeTombstone } from '../base/range-tombstone.js';
import type { InternalIterator } from '../base/internal-iterator.js';
import type { BlockCache, FileBlocks } from './block-cache.js';
import { Block } from './block-format.js';
import { BlockDeferred, LARGE_BLOCK_BYTES, type LargeBlocks } from './large-blocks.js';
import { BlockIter } from './block-iter.js';
import { BloomFilter, bloomHash } from './bloom.js';
import { decodeFooter, decodeMetaIndex, FOOTER_BYTES, META_FILTER, META_RANGE_DEL, type BlockHandle } from './format.js';
import { BLOCK_TRAILER_BYTES, declaredContentsLength, prefaultMappedRange, readPhysicalBlock, readPhysicalBlockAsync, readPhysicalBlockTransient, releaseMappedBelow, seekCorruption, SEEK_FOUND, SEEK_OTHER_KEY, seekPhysicalBlockTransient, transientReads, transientSeeks } from './physical-block.js';
import { decodeProperties, type TableProperties } from './properties.js';
import { decodeRangeDelBlock } from './range-del-block.js';
import { decodeIndex, type TableIndex } from './table-index.js';
import { TABLE_ABSENT, TABLE_FOUND, TableSearch } from './table-search.js';
import { TableIterator, type OwnBlockBuffer, type TableBlockSource } from './table-iterator.js';
import { nextTurn } from '../base/loop-turns.js';

const EMPTY = new Uint8Array(0);
/**
 * No LZ4 payload smaller than this decompresses to LARGE_BLOCK_BYTES: a match of n bytes takes
 * at least n / 255 bytes to encode, so contents shrink at most about 255 times.
 */
const SMALLEST_LARGE_PAYLOAD = LARGE_BLOCK_BYTES >>> 8;
const SMALL_CONTENTS = 1;
const LARGE_CONTENTS = 2;
/** A scanner lets its mapping's pages behind it leave the resident set in steps of this many bytes. */
export const RELEASE_MAPPED_BYTES = 1 << 20;

export class TableReader {
  readonly fileNumber: number;
  readonly fileSize: number;
  readonly properties: TableProperties;
  /** The table's range tombstones, in range-del-block.ts's order (none in a version 1 table). */
  readonly rangeTombstones: readonly RangeTombstone[];
  readonly #file: RandomAccessFile;
  readonly #cache: BlockCache | undefined;
  /** This table's blocks in #cache. */
  readonly #cached: FileBlocks | undefined;
  readonly #filter: BloomFilter;
  readonly #index: TableIndex;
  readonly #large: LargeBlocks | undefined;
  /** Where the data blocks end (the filter block starts). */
  readonly #dataEnd: number;
  /**
   * Per data block whose payload is small but may decompress to megabytes, what its frame
   * declares (#declaresLarge): 0 not looked at yet, SMALL_CONTENTS or LARGE_CONTENTS. Made at the
   * first such block.
   */
  #contents: Uint8Array | undefined;
  #refs = 1;
  #closed = false;
  /** Scratch cursor of get(), which is synchronous and so never runs twice at once. */
  readonly #getData = new BlockIter();
  /** get()'s search in the addon (table-search.ts), where the file is mapped. */
  readonly #search: TableSearch | undefined;
  /** Where #search left get() to go on, and the error makers it is given (made once). */
  readonly #next = { block: 0, admitted: false };
  readonly #damaged = (block: number, contents: boolean, what: string): Error => seekCorruption(this.#file.path, this.#index.blockOffset(block), contents, what);
  readonly #failed = (err: unknown): Error => ioError('read', this.#file.path, err);

  /**
   * Reads and checks the footer, index, filter and properties of `file`, which the reader owns
   * from then on. Throws CORRUPTION (naming file and offset) or NOT_SUPPORTED; the caller then
   * still owns and closes `file`. REQUIRES: loadChecksum() has resolved.
   */
  static open(file: RandomAccessFile, fileNumber: number, cache: BlockCache | undefined, large?: LargeBlocks): TableReader {
    const steps = openSteps(file);
    let step = steps.next();
    while (!step.done) {
      const { offset, size, what } = step.value;
      step = steps.next(what === undefined ? asBuffer(file.read(offset, size)) : readPhysicalBlock(file, offset, size, what));
    }
    const decoding = step.value.index;
    let decoded = decoding.next();
    while (!decoded.done) decoded = decoding.next();
    return TableReader.#of(file, fileNumber, cache, step.value, decoded.value, large);
  }

  /** open() of file `path` of `fs`, opened here: the reader owns it; a failed open closes it. */
  static openPath(fs: FileSystem, path: string, fileNumber: number, cache: BlockCache | undefined, large?: LargeBlocks): TableReader {
    const file = fs.openReadable(path);
    try {
      return TableReader.open(file, fileNumber, cache, large);
    } catch (err) {
      file.close();
      throw err;
    }
  }

  /**
   * open() with its reads on libuv's thread pool (RandomAccessFile.readAsync and
   * readPhysicalBlockAsync: the index and filter blocks' reads, checksums and decompression
   * leave the event loop's thread; decoding them stays on it, the index's a slice at a time
   * with a turn of the loop between slices: decodeIndex). The same checks and errors.
   * Where the file has no readAsync, open() runs instead.
   */
  static async openAsync(file: RandomAccessFile, fileNumber: number, cache: BlockCache | undefined, large?: LargeBlocks): Promise<TableReader> {
    if (file.readAsync === undefined) return TableReader.open(file, fileNumber, cache, large);
    const steps = openSteps(file);
    let step = steps.next();
    while (!step.done) {
      const { offset, size, what } = step.value;
      step = steps.next(what === undefined ? asBuffer(await file.readAsync(offset, size)) : await readPhysicalBlockAsync(file, offset, size, what));
    }
    // The index is decoded a slice at a time, with a turn of the event loop between slices.
    const decoding = step.value.index;
    let decoded = decoding.next();
    while (!decoded.done) {
      await nextTurn();
      decoded = decoding.next();
    }
    return TableReader.#of(file, fileNumber, cache, step.value, decoded.value, large);
  }

  static #of(file: RandomAccessFile, fileNumber: number, cache: BlockCache | undefined, p: OpenedParts, index: TableIndex, large: LargeBlocks | undefined): TableReader {
    return new TableReader(file, fileNumber, cache, p.properties, p.filter, index, p.tombstones, p.dataEnd, large);
  }

  private constructor(
    file: RandomAccessFile,
    fileNumber: number,
    cache: BlockCache | undefined,
    properties: TableProperties,
    filter: BloomFilter,
    index: TableIndex,
    rangeTombstones: readonly RangeTombstone[],
    dataEnd: number,
    large: LargeBlocks | undefined,
  ) {
    this.rangeTombstones = rangeTombstones;
    this.#dataEnd = dataEnd;
    this.#file = file;
    this.fileNumber = fileNumber;
    this.fileSize = file.size;
    this.#cache = cache;
    this.#cached = cache?.fileBlocks(fileNumber);
    this.properties = properties;
    this.#filter = filter;
    this.#index = index;
    this.#large = large;
    this.#search = TableSearch.of(file, fileNumber, index, filter, cache, this.#cached);
  }

  /** get()'s search in the addon, for a TableWalk (TableCache); undefined where the addon cannot search this table. */
  get pointSearch(): TableSearch | undefined {
    return this.#search;
  }

  /** The CORRUPTION a search of this table (pointSearch) reports about data block `block`. */
  blockDamage(block: number, contents: boolean, what: string): Error {
    return this.#damaged(block, contents, what);
  }

  /** The error a search of this table (pointSearch) that failed in the call reports. */
  searchFailure(err: unknown): Error {
    return this.#failed(err);
  }

  /**
   * Maps in, off the event loop's thread, the pages of this table's data blocks that the page
   * cache holds, from byte `start` up to `end` (at most the end of the data blocks): a get's
   * first touch of a page of the mapping costs a page fault on the event loop's thread. Resolves
   * with the bytes of the pages read (0 without a mapping, or once closed). For
   * Engine.#openTablesAhead, a slice at a time.
   */
  prefault(start: number, end: number): Promise<number> {
    if (this.#closed) return Promise.resolve(0);
    return prefaultMappedRange(this.#file, start, Math.min(end, this.#dataEnd));
  }

  /** Where this table's data blocks end: the bytes prefault() covers. */
  get dataBytes(): number {
    return this.#dataEnd;
  }

  /** Bytes this reader keeps while open: its decoded index block and its filter. */
  get indexAndFilterBytes(): number {
    return this.#index.memoryBytes + this.#filter.memoryBytes;
  }

  /**
   * The newest entry for `key` with seq <= snapshotSeq (a Delete is returned with kind Delete
   * and an empty value), or undefined. Consults the bloom filter first. The value is a view:
   * into a block whose bytes never change, or, for a block read from the mapping and let go
   * (neither cached nor admitted), into this thread's scratch buffer, whose bytes change on
   * the next read of a block: the caller copies the value before it reads again (Engine's
   * copyOut; a merge chain copies each operand before it looks further down).
   */
  get(key: Uint8Array, snapshotSeq: SeqNum): { seq: SeqNum; kind: ValueKind; value: Uint8Array } | undefined {
    if (this.#closed) throw closedError(`table ${this.#file.path}`);
    const search = this.#search;
    if (search !== undefined) {
      const found = { seq: 0, kind: 0 as ValueKind, value: EMPTY };
      const answer = search.get(key, snapshotSeq, found, this.#next, this.#damaged, this.#failed);
      if (answer === TABLE_FOUND) return found;
      if (answer === TABLE_ABSENT) return undefined;
      return this.getFrom(key, snapshotSeq, this.#next.block, this.#next.admitted);
    }
    if (!this.#filter.mayContainHash(bloomHash(key))) return undefined;
    return this.getFrom(key, snapshotSeq, this.#index.find(key, snapshotSeq), false);
  }

  /**
   * get() from data block `i` on, where the addon's search (pointSearch, or a TableWalk of it)
   * left it: a block the cache has just `admitted`, or one of megabytes. REQUIRES: the reader
   * is open.
   */
  getFrom(key: Uint8Array, snapshotSeq: SeqNum, i: number, admitted: boolean): { seq: SeqNum; kind: ValueKind; value: Uint8Array } | undefined {
    const data = this.#getData;
    const count = this.#index.count;
    // With format.ts's separators the first block tried holds the answer if there is one;
    // moving on keeps get() right for any separator at or after its block's last entry.
    for (; i < count; i++, admitted = false) {
      let block = admitted ? this.#admittedBlock(i) : this.#pointBlock(i);
      if (block === undefined) {
        // Neither cached nor admitted: read from the mapping into the scratch buffer, and
        // searched there by the addon when it can.
        const size = this.#index.blockSize(i);
        const offset = this.#index.blockOffset(i);
        if (transientSeeks) {
          const found = { seq: 0, kind: 0 as ValueKind, value: EMPTY };
          const answer = seekPhysicalBlockTransient(this.#file, offset, size, key, snapshotSeq, found);
          if (answer === SEEK_FOUND) return found;
          if (answer === SEEK_OTHER_KEY) return undefined;
          if (answer !== undefined) continue;
        }
        const contents = readPhysicalBlockTransient(this.#file, offset, size, 'data block');
        block = contents === undefined ? this.#transientMiss(i, size) : new Block(contents, this.#file.path, offset);
      }
      data.reset(block);
      data.seek(key, snapshotSeq);
      const positioned = data.valid();
      const found = positioned && data.keyEquals(key) ? { seq: data.seq(), kind: data.kind(), value: data.value() } : undefined;
      // A block of megabytes (a large value's, whose buffer the caller may be handed as the
      // value) is not kept past the call: the reader's cursor held on to the last one, so each
      // open table pinned up to its largest value until its next get.
      if (block.data.length >= LARGE_BLOCK_BYTES) data.clear();
      if (positioned) return found;
    }
    return undefined;
  }

  /**
   * About where in the file the entries at or after user key `key` start: the offset of the
   * data block that would hold it (the end of the data blocks when past them). From the index
   * alone, no data block read: for approximate sizes of key ranges.
   */
  approximateOffsetOf(key: Uint8Array): number {
    const i = this.#index.find(key, MAX_SEQ);
    return i < this.#index.count ? this.#index.blockOffset(i) : this.#dataEnd;
  }

  /**
   * Up to `n` user keys spread evenly over the table's data blocks (index separators), in
   * order: where a compaction of the table may be cut into key ranges of about equal bytes.
   * From the index alone, no data block read.
   */
  sampleKeys(n: number): Uint8Array[] {
    const count = this.#index.count;
    const keys: Uint8Array[] = [];
    const step = Math.max(1, count / n);
    for (let at = step - 1; at < count - 1 && keys.length < n; at += step) keys.push(this.#index.separatorKey(Math.floor(at)));
    return keys;
  }

  /** Whether the bloom filter may contain `key` (false means the table has no entry for it). */
  mayContain(key: Uint8Array): boolean {
    return this.#filter.mayContainHash(bloomHash(key));
  }

  /**
   * A cursor over every entry; it keeps the file open until it is closed. `own`: where it reads
   * the blocks the cache does not hold (#cursorBlock), shared by the cursors a LevelIterator
   * opens one after another, so that a scan or a seek allocates nothing once the buffer is
   * large enough.
   */
  iterator(own?: OwnBlockBuffer): InternalIterator {
    return this.#cursor((i, o) => this.#cursorBlock(i, o), own);
  }

  /**
   * A cursor for a compaction, which reads every block once, in order: each data block is read
   * from the file's mapping into a buffer of the cursor's own, never cached nor looked up in
   * the cache (#ownBlock), instead of a pread and a Buffer of its own a block (readBlock): the
   * L0→L1 compaction of a 1M-key fill took 7–10% less time and CPU. A key or value it gives is
   * a view of that buffer, valid until the cursor moves to another block: the caller copies
   * what it keeps past that (compactTables does). The mapping's pages behind the cursor leave
   * the resident set as it goes, where touched pages of a mapping would count until it is
   * unmapped (sustained's compactRange over 250 MB of inputs peaked 45 MB higher without
   * that). Without a mapping, as iterator().
   */
  scanner(): InternalIterator {
    const file = this.#file;
    const index = this.#index;
    let residentFrom = 0;
    return this.#cursor((i, own) => {
      const offset = index.blockOffset(i);
      if (offset - residentFrom >= RELEASE_MAPPED_BYTES) {
        releaseMappedBelow(file, offset);
        residentFrom = offset;
      }
      return this.#ownBlock(i, own);
    }, undefined);
  }

  /**
   * What a compaction's merge in the addon reads of this table (src/compaction/native-merge.ts):
   * the file's mapping and the (offset, size) of its data blocks in order, from the one that
   * can hold the first entry at or after user key `start` (from the first without). Undefined
   * where the file is not mapped. The mapping lasts until the reader is closed.
   */
  mergeInput(start: Uint8Array | undefined): { mapped: MappedFile; handles: Float64Array } | undefined {
    if (this.#closed) throw closedError(`table ${this.#file.path}`);
    const mapped = this.#readsTransiently() ? this.#file.mapped!() : undefined;
    if (mapped === undefined) return undefined;
    const index = this.#index;
    const first = start === undefined ? 0 : index.find(start, MAX_SEQ);
    const handles = new Float64Array(2 * (index.count - first));
    for (let i = first; i < index.count; i++) {
      handles[2 * (i - first)] = index.blockOffset(i);
      handles[2 * (i - first) + 1] = index.blockSize(i);
    }
    return { mapped, handles };
  }

  /** A TableIterator over this table reading its blocks with `block`, holding a reference to the file until it closes. */
  #cursor(block: TableBlockSource['block'], own: OwnBlockBuffer | undefined): InternalIterator {
    if (this.#closed) throw closedError(`table ${this.#file.path}`);
    this.#refs++;
    let released = false;
    return new TableIterator(
      {
        index: this.#index,
        block,
        release: () => {
          if (released) return;
          released = true;
          this.#unref();
        },
      },
      own,
    );
  }

  /** Drops the owner's reference; the file closes once no iterator uses it. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unref();
  }

  #unref(): void {
    if (--this.#refs === 0) this.#file.close();
  }

  /**
   * Data block `i` for an iterator (a seek, or a move onto the block): from the cache, or read
   * and cached when the cache admits it (as #pointBlock: a range read again soon after), else
   * read from the file's mapping into `own`, the iterator's buffer: no system call, no
   * allocation once it is large enough, nothing cached. A Buffer of its own for every block
   * read cost a scan 3–4 µs a block here (an allocation of 4 KiB takes that long in Node, the
   * allocator's lock shared with V8's sweeper thread, which frees them), more than reading
   * and decompressing the block. Without a mapping, read and cached (#readBlock).
   */
  #cursorBlock(i: number, own: OwnBlockBuffer): Block {
    const block = this.#pointBlock(i);
    if (block === undefined) return this.#ownBlock(i, own);
    // A cursor keeps its block between calls, and the cache may give a lent block's bytes to
    // another block on any read meanwhile: a copy of its own (no allocation once `own` is large enough).
    return block.lent ? new Block(copyInto(own, block.data), block.file, block.fileOffset) : block;
  }

  /** Data block `i` read from the mapping into `own` (grown as needed), not cached; without a mapping, read and cached. */
  #ownBlock(i: number, own: OwnBlockBuffer): Block {
    const size = this.#index.blockSize(i);
    if (size >= LARGE_BLOCK_BYTES) return this.#largeBlock(i, size);
    const offset = this.#index.blockOffset(i);
    const contents = readPhysicalBlockTransient(this.#file, offset, size, 'data block');
    if (contents === undefined) return this.#transientMiss(i, size);
    return new Block(copyInto(own, contents), this.#file.path, offset);
  }

  /**
   * Data block `i` for get() when it is in memory: from the cache, or read and copied into
   * memory of its own when the cache admits it (large blocks: large-blocks.ts). Undefined
   * when get() is to read it transiently from the file's mapping (neither cached nor
   * admitted). Without a mapping, read and cached as by iterators.
   */
  #pointBlock(i: number): Block | undefined {
    const size = this.#index.blockSize(i);
    if (size >= LARGE_BLOCK_BYTES) return this.#largeBlock(i, size);
    const cache = this.#cache;
    const hit = cache?.lookup(this.#cached!, i);
    if (hit !== undefined) return hit;
    if (!this.#readsTransiently()) {
      // No mapping to try the block in: a deferring read looks at what it declares first.
      return this.#large?.deferring === true && this.#declaresLarge(i, size) ? this.#largeBlock(i, size) : this.#readBlock(i, size);
    }
    if (cache === undefined || !cache.admit(this.#cached!, i)) return undefined;
    return this.#admittedBlock(i);
  }

  /** Data block `i`, which the cache has just admitted for get() (#pointBlock's second half). */
  #admittedBlock(i: number): Block {
    const size = this.#index.blockSize(i);
    const offset = this.#index.blockOffset(i);
    const contents = readPhysicalBlockTransient(this.#file, offset, size, 'data block');
    if (contents === undefined) return this.#transientMiss(i, size);
    return this.#cache!.insertCopy(this.#cached!, i, contents, this.#file.path, offset);
  }

  /**
   * Data block `i` read and checked into memory of its own, and cached, unless it is a large
   * block by its contents (a value of megabytes that compresses well: large-blocks.ts).
   */
  #readBlock(i: number, size: number): Block {
    const offset = this.#index.blockOffset(i);
    const block = new Block(readPhysicalBlock(this.#file, offset, size, 'data block'), this.#file.path, offset);
    // A closed reader's blocks are not cached: its file may be on its way to deletion.
    if (this.#cache !== undefined && !this.#closed && block.data.length < LARGE_BLOCK_BYTES) this.#cache.insert(this.#cached!, i, block);
    return block;
  }

  /**
   * Data block `i` after readPhysicalBlockTransient() answered nothing: with the file mapped,
   * its contents are larger than the scratch buffer, so it is a large block (however small its
   * payload: a value of megabytes that compresses well); without, read as any other.
   */
  #transientMiss(i: number, size: number): Block {
    return this.#readsTransiently() ? this.#largeBlock(i, size) : this.#readBlock(i, size);
  }

  /** Whether readPhysicalBlockTransient() can read this file's blocks (the addon's calls, and a mapping). */
  #readsTransiently(): boolean {
    return transientReads && this.#file.mapped?.() !== undefined;
  }

  /**
   * Whether data block `i`, of a payload of `size` bytes (under LARGE_BLOCK_BYTES), declares
   * contents of LARGE_BLOCK_BYTES or more, for a read of a file without a mapping: a payload too
   * small to hold a large block's LZ4 form is not looked at; a larger one's declared length is
   * read once and remembered.
   */
  #declaresLarge(i: number, size: number): boolean {
    if (size < SMALLEST_LARGE_PAYLOAD) return false;
    const contents = (this.#contents ??= new Uint8Array(this.#index.count));
    if (contents[i] === 0) contents[i] = declaredContentsLength(this.#file, this.#index.blockOffset(i), size) >= LARGE_BLOCK_BYTES ? LARGE_CONTENTS : SMALL_CONTENTS;
    return contents[i] === LARGE_CONTENTS;
  }

  /** Large data block `i` (large-blocks.ts): never cached; deferred when the caller asks. */
  #largeBlock(i: number, size: number): Block {
    const large = this.#large;
    const offset = this.#index.blockOffset(i);
    if (large !== undefined) {
      const ready = large.ready(this.fileNumber, i);
      if (ready !== undefined) return ready;
      if (large.deferring) throw new BlockDeferred(this.fileNumber, i, this.#loadAsync(offset, size, large.lendTarget()));
    }
    return new Block(readPhysicalBlock(this.#file, offset, size, 'data block'), this.#file.path, offset);
  }

  /** Reads data block at `offset` off the event loop's thread (into `into` when it fits), holding the file open meanwhile. */
  async #loadAsync(offset: number, size: number, into: Uint8Array | undefined): Promise<Block> {
    this.#refs++;
    try {
      return new Block(await readPhysicalBlockAsync(this.#file, offset, size, 'data block', into), this.#file.path, offset);
    } finally {
      this.#unref();
    }
  }
}

/** A read that opening a table needs: `size` bytes at `offset`, or the physical block there when `what` names it. */
interface OpenRead {
  offset: number;
  size: number;
  what?: string;
}

/** What a table's reader is made of, read and checked at open. */
interface OpenedParts {
  properties: TableProperties;
  filter: BloomFilter;
  /** The index, still to decode (decodeIndex: open() runs it through, openAsync() with turns of the loop). */
  index: Generator<void, TableIndex, void>;
  tombstones: readonly RangeTombstone[];
  dataEnd: number;
}

/**
 * The steps of opening `file`, as reads to make (yielded) and checks of what they return: one
 * definition for open() and openAsync(). Throws CORRUPTION naming file and offset.
 */
function* openSteps(file: RandomAccessFile): Generator<OpenRead, OpenedParts, Buffer> {
  const size = file.size;
  if (size < FOOTER_BYTES) throw corruption(file.path, 0, `file of ${size} bytes is shorter than a table footer (${FOOTER_BYTES} bytes)`);
  const footerOffset = size - FOOTER_BYTES;
  const footer = decodeFooter(yield { offset: footerOffset, size: FOOTER_BYTES }, file.path, footerOffset);
  const { properties, index } = footer;
  // The meta blocks sit back to back before the footer, after the data blocks.
  const badLayout = () => corruption(file.path, footerOffset, 'footer block handles do not match the table layout');
  const follows = (a: BlockHandle, b: BlockHandle) => a.offset + a.size + BLOCK_TRAILER_BYTES === b.offset;
  if (!follows(properties, index) || index.offset + index.size + BLOCK_TRAILER_BYTES !== footerOffset) throw badLayout();
  let filter: BlockHandle;
  let rangeDel: BlockHandle | undefined;
  if (footer.formatVersion === 1) {
    filter = footer.meta;
    if (!(filter.offset > 0 && follows(filter, properties))) throw badLayout();
  } else {
    if (!follows(footer.meta, properties)) throw badLayout();
    const metaIndex = decodeMetaIndex(yield { ...footer.meta, what: 'meta-index block' }, file.path, footer.meta.offset);
    filter = metaIndex.get(META_FILTER)!;
    rangeDel = metaIndex.get(META_RANGE_DEL);
    if (!follows(filter, rangeDel ?? footer.meta) || (rangeDel !== undefined && !follows(rangeDel, footer.meta))) {
      throw corruption(file.path, footer.meta.offset, 'meta-index block handles do not match the table layout');
    }
  }

  const bloom = new BloomFilter(yield { ...filter, what: 'filter block' }, file.path, filter.offset);
  const props = decodeProperties(yield { ...properties, what: 'properties block' }, file.path, properties.offset);
  if (props.formatVersion !== footer.formatVersion) throw corruption(file.path, properties.offset, `properties say format v${props.formatVersion}, footer v${footer.formatVersion}`);
  if (props.dataBlocks * BLOCK_TRAILER_BYTES > filter.offset) throw corruption(file.path, properties.offset, `${props.dataBlocks} data blocks cannot fit in ${filter.offset} bytes`);
  const tombstones = rangeDel === undefined ? [] : decodeRangeDelBlock(yield { ...rangeDel, what: 'range-deletion block' }, file.path, rangeDel.offset);
  if (tombstones.length !== props.rangeDeletions) throw corruption(file.path, properties.offset, `properties count ${props.rangeDeletions} range deletions, the table holds ${tombstones.length}`);
  const indexContents = yield { ...index, what: 'index block' };
  let indexBlock: Block | undefined;
  if (props.dataBlocks > 0) indexBlock = new Block(indexContents, file.path, index.offset);
  else if (indexContents.length !== 0) throw corruption(file.path, index.offset, 'index block of a table without data blocks is not empty');
  return { properties: props, filter: bloom, index: decodeIndex(indexBlock, filter.offset, props.dataBlocks), tombstones, dataEnd: filter.offset };
}

/** `contents` copied into `own`'s buffer (grown as needed): a view of contents.length bytes. */
function copyInto(own: OwnBlockBuffer, contents: Uint8Array): Buffer {
  let buffer = own.buffer;
  if (buffer === undefined || buffer.length < contents.length) own.buffer = buffer = Buffer.allocUnsafeSlow(Math.max(contents.length, 2 * (buffer?.length ?? 4096)));
  buffer.set(contents, 0);
  return buffer.subarray(0, contents.length);
}
