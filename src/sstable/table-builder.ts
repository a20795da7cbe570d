// Writes a table (format.ts) from entries added in internal order.
//
// add() is synchronous: it encodes into the current data block and, when the block is full,
// compresses and checksums it into a staging buffer. drain() appends the staging buffer to
// the file; the caller awaits it when pendingBytes grows, which bounds the builder's memory
// without an await per entry. addRangeTombstone() collects range tombstones, in any order.
// finish() appends the rest, then the filter, range-deletion, meta-index, properties and
// index blocks and the footer, syncs and closes the file. It writes TABLE_FORMAT_VERSION.

import { invalidArgument, invariant, StrataError } from '../base/errors.js';
import type { WritableFile } from '../base/fs.js';
import { native, type SkipListEntries, type SkipListView } from '../base/native.js';
import { isPointKind, kindBits, MAX_SEQ, ValueKind, type SeqNum } from '../base/internal-key.js';
import { compareBytes } from '../base/bytes.js';
import { tombstoneUpperKey, type RangeTombstone } from '../base/range-tombstone.js';
import { expiresAt, EXPIRY_BYTES } from '../base/ttl.js';
import { BlockBuilder } from './block-builder.js';
import { DEFAULT_RESTART_INTERVAL } from './block-format.js';
import { BLOOM_SEED, bloomHash, buildBloomFilter } from './bloom.js';
import type { BuilderScratch } from './builder-scratch.js';
import { encodeFooter, encodeHandle, encodeMetaIndex, handleLength, META_FILTER, META_RANGE_DEL, TABLE_FORMAT_VERSION, type BlockHandle } from './format.js';
import { compareRange } from './key-compare.js';
import { BLOCK_TRAILER_BYTES, payloadRoom, putPayload, sealPhysicalBlock } from './physical-block.js';
import { encodeProperties, type TableProperties } from './properties.js';
import { compareTombstones, encodeRangeDelBlock } from './range-del-block.js';

export interface TableBuilderOptions {
  /** Target size of a data block before compression, in bytes. Default 4096; 64 to 64 MiB. */
  blockBytes?: number;
  /** Entries between restart points (full keys) in a data block. Default 16; 1 to 1024. */
  restartInterval?: number;
  /** Default 'lz4': a data or index block is stored compressed when that saves 1/8 of it. */
  compression?: 'lz4' | 'none';
  /** Bloom filter bits per distinct user key; 0 writes no filter. Default 10; 0 to 64. */
  bloomBitsPerKey?: number;
}

interface ResolvedOptions {
  blockBytes: number;
  restartInterval: number;
  lz4: boolean;
  bloomBitsPerKey: number;
}

function resolveOptions(o: TableBuilderOptions): ResolvedOptions {
  const blockBytes = o.blockBytes ?? 4096;
  const restartInterval = o.restartInterval ?? DEFAULT_RESTART_INTERVAL;
  const bloomBitsPerKey = o.bloomBitsPerKey ?? 10;
  const compression = o.compression ?? 'lz4';
  if (!Number.isInteger(blockBytes) || blockBytes < 64 || blockBytes > 64 * 1024 * 1024) throw invalidArgument(`blockBytes must be an integer from 64 to 64 MiB, not ${blockBytes}`);
  if (!Number.isInteger(restartInterval) || restartInterval < 1 || restartInterval > 1024) throw invalidArgument(`restartInterval must be an integer from 1 to 1024, not ${restartInterval}`);
  if (typeof bloomBitsPerKey !== 'number' || !(bloomBitsPerKey >= 0 && bloomBitsPerKey <= 64)) throw invalidArgument(`bloomBitsPerKey must be from 0 to 64, not ${bloomBitsPerKey}`);
  if (compression !== 'lz4' && compression !== 'none') throw invalidArgument(`compression must be 'lz4' or 'none', not ${String(compression)}`);
  return { blockBytes, restartInterval, lz4: compression === 'lz4', bloomBitsPerKey };
}

const MIN_STAGING_BYTES = 256 * 1024;

/**
 * The fields of the state encodeSkipListBlock reads and updates (native/skiplist_blocks.c's
 * enum, in its order): the run's next node, the block's settings and the format's numbers
 * (in), the table's counters and last key (in and out), the block's length and entries, and
 * how large a buffer must grow (out).
 */
const S_NODE = 0;
const S_BLOCK_BYTES = 1;
const S_RESTART_INTERVAL = 2;
const S_BLOOM_SEED = 3;
const S_DELETE_KIND = 4;
const S_EXPIRY_KIND = 5;
const S_POINT_KINDS = 6;
const S_EXPIRY_BYTES = 7;
const S_ENTRIES = 8;
const S_DELETIONS = 9;
const S_SMALLEST_SEQ = 10;
const S_LARGEST_SEQ = 11;
const S_RAW_KEY_BYTES = 12;
const S_RAW_VALUE_BYTES = 13;
const S_EARLIEST_EXPIRY = 14;
const S_LAST_KEY_LENGTH = 15;
const S_LAST_SEQ = 16;
const S_HASH_COUNT = 17;
const S_BLOCK_LENGTH = 18;
const S_NEED = 20;
const S_CUT_BYTES = 21;
const S_FILE_BYTES = 22;
const S_CUT = 23;
const STATE_FIELDS = 24;
/** encodeSkipListBlock's answers. */
const BLOCK_DONE = 0;
const NEED_BLOCK = 2;
const NEED_HASHES = 3;
const NEED_LAST_KEY = 4;
const OUT_OF_ORDER = 5;
/** The kinds a data block holds (isPointKind), as a bit set for the addon. */
const POINT_KINDS = kindBits(isPointKind);

export class TableBuilder {
  readonly #file: WritableFile;
  readonly #options: ResolvedOptions;
  readonly #data: BlockBuilder;
  readonly #index = new BlockBuilder(1);
  #state: 'building' | 'finishing' | 'done' = 'building';

  /** Finished blocks not yet appended, and the file offset the next block will have. */
  #staging: Buffer | undefined;
  #stagingLength = 0;
  /** A staging buffer whose bytes are in the file, kept for reuse: a builder allocates about two. */
  #spare: Buffer | undefined;
  #offset = 0;
  #writes: Promise<void> = Promise.resolve();
  #writeError: unknown;

  #lastKey: Buffer = Buffer.allocUnsafe(64);
  #lastKeyLength = 0;
  #lastSeq: SeqNum = 0;
  /** The last finished data block, whose index entry waits for the next key (to shorten its separator). */
  #pendingHandle: BlockHandle | undefined;
  #indexValue = new Uint8Array(20);

  #hashes: Uint32Array;
  #hashCount = 0;
  #entries = 0;
  #deletions = 0;
  #smallestKey: Uint8Array = new Uint8Array(0);
  #smallestSeq: SeqNum = MAX_SEQ;
  #largestSeq: SeqNum = 0;
  #rawKeyBytes = 0;
  #rawValueBytes = 0;
  #dataBlocks = 0;
  readonly #rangeTombstones: RangeTombstone[] = [];
  #earliestExpiryMs = 0;
  readonly #scratch: BuilderScratch | undefined;
  /** encodeSkipListBlock's state and block buffer, made on the first block the addon encodes. */
  #nativeState: Float64Array | undefined;
  #nativeBlock: Buffer | undefined;
  #cutReached = false;

  /** `scratch`: where the table's buffers come from and, once it is finished, go back to. */
  constructor(file: WritableFile, options: TableBuilderOptions = {}, scratch?: BuilderScratch) {
    this.#file = file;
    this.#options = resolveOptions(options);
    this.#data = new BlockBuilder(this.#options.restartInterval);
    this.#scratch = scratch;
    this.#hashes = scratch?.takeHashes() ?? new Uint32Array(1024);
    this.#spare = scratch?.takeStaging();
  }

  /**
   * Adds an entry. REQUIRES: (key, seq) strictly after the previous entry in internal order;
   * 0 <= seq < 2^53; a Delete has an empty value (all checked: INVALID_ARGUMENT).
   */
  add(key: Uint8Array, seq: SeqNum, kind: ValueKind, value: Uint8Array): void {
    this.#checkBuilding();
    if (!Number.isSafeInteger(seq) || seq < 0) throw invalidArgument(`sequence number ${seq} is not an integer from 0 to 2^53 - 1`);
    if (!isPointKind(kind)) throw invalidArgument(`value kind ${String(kind)} is not a point entry's`);
    if (kind === ValueKind.Delete && value.length !== 0) throw invalidArgument('a Delete entry has an empty value');
    let newUserKey = true;
    if (this.#entries > 0) {
      // One comparison of the user keys gives both the order check and whether the key is new.
      const c = compareRange(this.#lastKey, 0, this.#lastKeyLength, key);
      if (c > 0 || (c === 0 && this.#lastSeq <= seq)) {
        throw invalidArgument(`table entries must be added in internal order: (${hex(key)}, ${seq}) does not sort after (${hex(this.#lastKey.subarray(0, this.#lastKeyLength))}, ${this.#lastSeq}) in ${this.#file.path}`);
      }
      newUserKey = c !== 0;
    } else {
      this.#smallestKey = new Uint8Array(key);
    }
    if (this.#pendingHandle !== undefined) this.#addIndexEntry(key);
    if (newUserKey) this.#addHash(bloomHash(key));

    this.#data.add(key, seq, kind, value);
    this.#entries++;
    if (kind === ValueKind.Delete) this.#deletions++;
    else if (kind === ValueKind.PutWithExpiry && value.length >= EXPIRY_BYTES) {
      const at = expiresAt(value);
      if (this.#earliestExpiryMs === 0 || at < this.#earliestExpiryMs) this.#earliestExpiryMs = at;
    }
    if (seq < this.#smallestSeq) this.#smallestSeq = seq;
    if (seq > this.#largestSeq) this.#largestSeq = seq;
    this.#rawKeyBytes += key.length;
    this.#rawValueBytes += value.length;
    if (key.length > this.#lastKey.length) this.#lastKey = Buffer.allocUnsafe(Math.max(key.length, this.#lastKey.length * 2));
    this.#lastKey.set(key);
    this.#lastKeyLength = key.length;
    this.#lastSeq = seq;

    if (this.#data.estimatedBytes >= this.#options.blockBytes) this.#finishDataBlock();
  }

  /** The data block size `options` ask for (their blockBytes or the default). */
  static blockBytesOf(options: TableBuilderOptions): number {
    return resolveOptions(options).blockBytes;
  }

  /**
   * Whether addSkipListRun() can be used: the addon has the calls it makes (otherwise the
   * caller adds the entries one by one with add()).
   */
  static get encodesInPlace(): boolean {
    return native.skipListView !== undefined && native.encodeSkipListBlock !== undefined;
  }

  /**
   * Adds every entry of `run` (after those added so far), as add() would one by one, each data
   * block encoded by the addon from the list's memory in place (no object or view per entry);
   * the same bytes as add() writes. Appends the finished blocks whenever `drainAt` bytes wait.
   * REQUIRES: encodesInPlace; the entries in internal order after the last one added (checked:
   * INVALID_ARGUMENT, as add()).
   */
  async addSkipListRun(run: SkipListEntries, drainAt: number): Promise<void> {
    this.#checkBuilding();
    await this.#addNativeRun(native.skipListView!(run.nodes, run.chunks, run.layout), run.first, run.end, (node) => run.keyOf(node), drainAt);
  }

  /** Whether addPackRun() can be used: the addon has the calls it makes. */
  static get encodesPacks(): boolean {
    return native.packView !== undefined && native.encodeSkipListBlock !== undefined;
  }

  /**
   * Adds the pairs of an ingest's pack (src/compaction/ingest-job.ts: `data` the keys and values
   * back to back, `ends` where each ends) as Puts at `seq`, after the entries added so far, as
   * add() would one by one: each data block encoded by the addon from the pack in place. Appends
   * the finished blocks whenever `drainAt` bytes wait. REQUIRES: encodesPacks; keys strictly
   * ascending after the last one added (checked: INVALID_ARGUMENT, as add()).
   */
  async addPackRun(data: Uint8Array, ends: Uint32Array, seq: SeqNum, drainAt: number): Promise<void> {
    this.#checkBuilding();
    const view = native.packView!(data, ends, seq, ValueKind.Put);
    const keyOf = (i: number): Uint8Array => data.subarray(i === 0 ? 0 : ends[2 * i - 1]!, ends[2 * i]!);
    await this.#addNativeRun(view, 0, ends.length / 2, keyOf, drainAt);
  }

  /** addSkipListRun's and addPackRun's loop over a view of the addon's, entries first..end. */
  async #addNativeRun(view: SkipListView, first: number, end: number, keyOf: (node: number) => Uint8Array, drainAt: number): Promise<void> {
    if (this.#data.entries > 0) this.#finishDataBlock();
    for (let node = first; node !== end; ) {
      node = this.#encodeNativeBlock(view, node, keyOf(node), 0);
      if (this.#stagingLength >= drainAt) await this.drain();
    }
  }

  /**
   * Encodes one data block from a compaction's merge queue (native mergeView: entries 0 on,
   * the first one's key `firstKey`), as add() would write its entries one by one, and returns
   * how many entries it took. The block also ends before an entry that starts a user key once
   * estimatedFileBytes (with the block so far) reaches `cutBytes` (compaction's OutputWriter cuts
   * the output there), and cutReached then says so; when that is so before the first entry,
   * nothing is encoded (0). REQUIRES: encodesInPlace; no entry added with add() in the open
   * data block; the entries in internal order after the last one added (checked:
   * INVALID_ARGUMENT, as add()).
   */
  addQueuedBlock(view: SkipListView, firstKey: Uint8Array, cutBytes: number): number {
    this.#checkBuilding();
    invariant(this.#data.entries === 0, 'addQueuedBlock needs the data block closed');
    return this.#encodeNativeBlock(view, 0, firstKey, cutBytes);
  }

  /** Whether the last addQueuedBlock() stopped because the table reached its cutBytes. */
  get cutReached(): boolean {
    return this.#cutReached;
  }

  /**
   * One data block encoded by the addon from `view`'s entries from `node` (whose key is
   * `key`) on, its index entry and counters as add()'s; returns the node after its last entry
   * (`node` itself, and no block, when the table reached `cutBytes` before it: cutReached).
   */
  #encodeNativeBlock(view: SkipListView, node: number, key: Uint8Array, cutBytes: number): number {
    // The cut before the first entry, looked at here (the addon looks before the others): the
    // index entry of the block before would otherwise take `key` as the next block's key.
    if (cutBytes > 0 && this.#entries > 0 && this.estimatedFileBytes >= cutBytes && compareRange(this.#lastKey, 0, this.#lastKeyLength, key) !== 0) {
      this.#cutReached = true;
      return node;
    }
    const encode = native.encodeSkipListBlock!;
    const state = (this.#nativeState ??= this.#newNativeState());
    let block = (this.#nativeBlock ??= Buffer.allocUnsafe(this.#options.blockBytes * 2 + 1024));
    state[S_NODE] = node;
    state[S_CUT_BYTES] = cutBytes;
    state[S_FILE_BYTES] = this.#offset;
    if (this.#entries === 0) this.#smallestKey = new Uint8Array(key);
    if (this.#pendingHandle !== undefined) this.#addIndexEntry(key);
    state[S_ENTRIES] = this.#entries;
    state[S_DELETIONS] = this.#deletions;
    state[S_SMALLEST_SEQ] = this.#smallestSeq;
    state[S_LARGEST_SEQ] = this.#largestSeq;
    state[S_RAW_KEY_BYTES] = this.#rawKeyBytes;
    state[S_RAW_VALUE_BYTES] = this.#rawValueBytes;
    state[S_EARLIEST_EXPIRY] = this.#earliestExpiryMs;
    state[S_LAST_KEY_LENGTH] = this.#lastKeyLength;
    state[S_LAST_SEQ] = this.#lastSeq;
    state[S_HASH_COUNT] = this.#hashCount;
    for (let status = encode(view, state, block, this.#hashes, this.#lastKey); status !== BLOCK_DONE; status = encode(view, state, block, this.#hashes, this.#lastKey)) {
      const need = state[S_NEED]!;
      if (status === NEED_BLOCK) {
        block = this.#nativeBlock = Buffer.allocUnsafe(Math.max(need, block.length * 2));
      } else if (status === NEED_HASHES) {
        this.#growHashes(need);
      } else if (status === NEED_LAST_KEY) {
        const grown = Buffer.allocUnsafe(Math.max(need, this.#lastKey.length * 2));
        this.#lastKey.copy(grown, 0, 0, this.#lastKeyLength);
        this.#lastKey = grown;
      } else if (status === OUT_OF_ORDER) {
        throw invalidArgument(`table entries must be added in internal order: a run's entries do not sort after (${hex(this.#lastKey.subarray(0, this.#lastKeyLength))}, ${this.#lastSeq}) in ${this.#file.path}`);
      } else {
        throw invalidArgument(`a run holds an entry that is not a valid point entry (its kind, a Delete with a value, or bytes outside its chunk) in ${this.#file.path}`);
      }
    }
    this.#entries = state[S_ENTRIES]!;
    this.#deletions = state[S_DELETIONS]!;
    this.#smallestSeq = state[S_SMALLEST_SEQ]!;
    this.#largestSeq = state[S_LARGEST_SEQ]!;
    this.#rawKeyBytes = state[S_RAW_KEY_BYTES]!;
    this.#rawValueBytes = state[S_RAW_VALUE_BYTES]!;
    this.#earliestExpiryMs = state[S_EARLIEST_EXPIRY]!;
    this.#lastKeyLength = state[S_LAST_KEY_LENGTH]!;
    this.#lastSeq = state[S_LAST_SEQ]!;
    this.#hashCount = state[S_HASH_COUNT]!;
    this.#pendingHandle = this.#writeBlock(block.subarray(0, state[S_BLOCK_LENGTH]!), this.#options.lz4);
    this.#dataBlocks++;
    this.#cutReached = state[S_CUT] === 1;
    return state[S_NODE]!;
  }

  /** encodeSkipListBlock's state with this table's settings and the format's numbers. */
  #newNativeState(): Float64Array {
    const state = new Float64Array(STATE_FIELDS);
    state[S_BLOCK_BYTES] = this.#options.blockBytes;
    state[S_RESTART_INTERVAL] = this.#options.restartInterval;
    state[S_BLOOM_SEED] = BLOOM_SEED;
    state[S_DELETE_KIND] = ValueKind.Delete;
    state[S_EXPIRY_KIND] = ValueKind.PutWithExpiry;
    state[S_POINT_KINDS] = POINT_KINDS;
    state[S_EXPIRY_BYTES] = EXPIRY_BYTES;
    return state;
  }

  /**
   * Adds a range tombstone, in any order relative to entries and other tombstones.
   * REQUIRES: start < end when there is an end; 0 <= seq < 2^53 (checked: INVALID_ARGUMENT).
   */
  addRangeTombstone(t: RangeTombstone): void {
    this.#checkBuilding();
    if (!Number.isSafeInteger(t.seq) || t.seq < 0) throw invalidArgument(`sequence number ${t.seq} is not an integer from 0 to 2^53 - 1`);
    if (t.end !== undefined && compareBytes(t.start, t.end) >= 0) throw invalidArgument('a range tombstone must end after it starts');
    this.#rangeTombstones.push({ start: new Uint8Array(t.start), end: t.end === undefined ? undefined : new Uint8Array(t.end), seq: t.seq });
  }

  /** Range tombstones added so far. */
  get rangeTombstoneCount(): number {
    return this.#rangeTombstones.length;
  }

  /** Bytes of finished blocks not yet appended to the file. */
  get pendingBytes(): number {
    return this.#stagingLength;
  }

  /** Size the file would have if the current data block were the last (before the meta blocks). */
  get estimatedFileBytes(): number {
    return this.#offset + this.#data.estimatedBytes;
  }

  /** Appends the finished blocks to the file. Appends happen in call order. */
  drain(): Promise<void> {
    const staging = this.#staging;
    const length = this.#stagingLength;
    this.#staging = undefined;
    this.#stagingLength = 0;
    const write = this.#writes.then(async () => {
      if (this.#writeError !== undefined) throw this.#writeError;
      if (staging === undefined || length === 0) return;
      await this.#file.append(staging.subarray(0, length));
      // Reused for later blocks only once the file has taken the bytes.
      this.#spare = staging;
    });
    this.#writes = write.catch((err: unknown) => {
      this.#writeError ??= err;
    });
    return write;
  }

  /**
   * Writes the filter, range-deletion, meta-index, properties and index blocks and the
   * footer, syncs the file (WritableFile.sync) and closes it. REQUIRES: at least one entry or
   * range tombstone (checked: INVALID_ARGUMENT). After a failure the caller abandons the
   * builder and deletes the file.
   */
  async finish(): Promise<{ fileSize: number; properties: TableProperties }> {
    this.#checkBuilding();
    const tombstones = this.#rangeTombstones;
    if (this.#entries === 0 && tombstones.length === 0) throw invalidArgument(`a table needs at least one entry (${this.#file.path})`);
    this.#state = 'finishing';
    if (this.#data.entries > 0) this.#finishDataBlock();
    if (this.#pendingHandle !== undefined) this.#addIndexEntry(undefined);

    let smallestKey: Uint8Array | undefined = this.#entries > 0 ? this.#smallestKey : undefined;
    let largestKey: Uint8Array | undefined = this.#entries > 0 ? new Uint8Array(this.#lastKey.subarray(0, this.#lastKeyLength)) : undefined;
    let smallestSeq = this.#smallestSeq;
    let largestSeq = this.#largestSeq;
    for (const t of tombstones) {
      const upper = tombstoneUpperKey(t);
      if (smallestKey === undefined || compareBytes(t.start, smallestKey) < 0) smallestKey = t.start;
      if (largestKey === undefined || compareBytes(upper, largestKey) > 0) largestKey = upper;
      if (t.seq < smallestSeq) smallestSeq = t.seq;
      if (t.seq > largestSeq) largestSeq = t.seq;
    }
    const properties: TableProperties = {
      entries: this.#entries,
      deletions: this.#deletions,
      smallestKey: smallestKey!,
      largestKey: largestKey!,
      smallestSeq,
      largestSeq,
      rawKeyBytes: this.#rawKeyBytes,
      rawValueBytes: this.#rawValueBytes,
      dataBlocks: this.#dataBlocks,
      rangeDeletions: tombstones.length,
      earliestExpiryMs: this.#earliestExpiryMs,
      formatVersion: TABLE_FORMAT_VERSION,
    };
    const metaBlocks = new Map<string, BlockHandle>();
    metaBlocks.set(META_FILTER, this.#writeBlock(buildBloomFilter(this.#hashes, this.#hashCount, this.#options.bloomBitsPerKey), false));
    if (tombstones.length > 0) {
      tombstones.sort(compareTombstones);
      metaBlocks.set(META_RANGE_DEL, this.#writeBlock(encodeRangeDelBlock(tombstones), false));
    }
    const meta = this.#writeBlock(encodeMetaIndex(metaBlocks), false);
    const props = this.#writeBlock(encodeProperties(properties), false);
    const index = this.#writeBlock(this.#dataBlocks > 0 ? this.#index.finish() : Buffer.alloc(0), this.#options.lz4);
    const footer = encodeFooter({ meta, properties: props, index, formatVersion: TABLE_FORMAT_VERSION });
    this.#stage(footer.length).set(footer, this.#stagingLength);
    this.#stagingLength += footer.length;
    this.#offset += footer.length;

    await this.drain();
    await this.#file.sync();
    await this.#file.close();
    this.#state = 'done';
    // Every staged byte is in the file (drain() left no staging buffer, only the spare): the
    // buffers are free for the next table.
    this.#scratch?.give(this.#hashes, this.#spare);
    invariant(this.#file.size === this.#offset, `table ${this.#file.path} is ${this.#file.size} bytes, expected ${this.#offset}`);
    return { fileSize: this.#offset, properties };
  }

  /** Closes the file without finishing it (the caller deletes it). Idempotent. */
  async abandon(): Promise<void> {
    this.#state = 'done';
    this.#staging = undefined;
    this.#spare = undefined;
    this.#stagingLength = 0;
    await this.#writes;
    await this.#file.close();
  }

  #checkBuilding(): void {
    if (this.#state !== 'building') throw new StrataError('CLOSED', `table builder for ${this.#file.path} is finished or abandoned`);
  }

  #finishDataBlock(): void {
    this.#pendingHandle = this.#writeBlock(this.#data.finish(), this.#options.lz4);
    this.#data.reset();
    this.#dataBlocks++;
  }

  /**
   * Adds the index entry of the last finished data block, given the first key of the next
   * block (undefined after the last block): a short separator when one fits between them.
   */
  #addIndexEntry(nextKey: Uint8Array | undefined): void {
    const handle = this.#pendingHandle!;
    this.#pendingHandle = undefined;
    const valueLength = encodeHandle(this.#indexValue, 0, handle);
    invariant(valueLength === handleLength(handle), 'block handle length');
    const value = this.#indexValue.subarray(0, valueLength);
    const last = this.#lastKey;
    const lastLength = this.#lastKeyLength;
    if (nextKey !== undefined) {
      const n = Math.min(lastLength, nextKey.length);
      let d = 0;
      while (d < n && last[d] === nextKey[d]) d++;
      // last < next, so at d either last ends or last[d] < next[d]. Bump last[d] when that
      // stays below next[d]: then last < separator < next as user keys.
      if (d + 1 < lastLength && last[d]! + 1 < nextKey[d]!) {
        const separator = new Uint8Array(last.subarray(0, d + 1));
        separator[d]!++;
        this.#index.add(separator, MAX_SEQ, ValueKind.Put, value);
        return;
      }
    }
    this.#index.add(last.subarray(0, lastLength), this.#lastSeq, ValueKind.Put, value);
  }

  /** Frames `contents` as a physical block in the staging buffer; returns its handle. */
  #writeBlock(contents: Buffer, lz4: boolean): BlockHandle {
    const out = this.#stage(payloadRoom(contents.length, lz4) + BLOCK_TRAILER_BYTES);
    const start = this.#stagingLength;
    const { length, compression } = putPayload(contents, lz4, out, start);
    this.#stagingLength = sealPhysicalBlock(out, start, length, compression);
    const handle = { offset: this.#offset, size: length };
    this.#offset += length + BLOCK_TRAILER_BYTES;
    return handle;
  }

  /** The staging buffer, with room for `extra` more bytes. */
  #stage(extra: number): Buffer {
    const need = this.#stagingLength + extra;
    const staging = this.#staging;
    if (staging !== undefined && need <= staging.length) return staging;
    let grown = this.#spare;
    this.#spare = undefined;
    if (grown === undefined || grown.length < need) grown = Buffer.allocUnsafe(Math.max(need, MIN_STAGING_BYTES, (staging?.length ?? 0) * 2));
    staging?.copy(grown, 0, 0, this.#stagingLength);
    this.#staging = grown;
    return grown;
  }

  #addHash(hash: number): void {
    if (this.#hashCount === this.#hashes.length) this.#growHashes(this.#hashCount + 1);
    this.#hashes[this.#hashCount++] = hash;
  }

  /** A hash array of at least `length` entries (and twice the last), the counted ones kept. */
  #growHashes(length: number): void {
    const grown = new Uint32Array(Math.max(length, this.#hashes.length * 2));
    grown.set(this.#hashes.subarray(0, this.#hashCount));
    this.#hashes = grown;
  }
}

function hex(bytes: Uint8Array): string {
  const s = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 32)).toString('hex');
  return bytes.length > 32 ? `${s}...` : s;
}
