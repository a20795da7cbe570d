// The skip list behind a memtable, with no object per entry.
//
// Order: internal keys, user key ascending (unsigned bytes, a prefix first), then sequence
// number descending.
//
// A node is a record in one Int32Array, `nodes`, named by the index of its prefix-hi field.
// A node of height h (1..MAX_HEIGHT, drawn with p = 1/4) takes 10 + 2 + 3h entries:
//
//  -10 suffix hi     key bytes 8..11, encoded like the prefixes below
//   -9 suffix lo     key bytes 12..15, likewise
//   -8 key length
//   -7 chunk         arena chunk id holding the key, then the value
//   -6 offset        of the key in that chunk
//   -5 value length
//   -4 prev          level-0 back link
//   -3 kind          a ValueKind
//   -2 seq hi        floor(seq / 2^32)
//   -1 seq lo        seq mod 2^32 (read back with >>> 0)
//    0 prefix hi     key bytes 0..3 big-endian, zero-padded, sign bit flipped
//    1 prefix lo     key bytes 4..7, likewise
//    2 + 3l          next node at level l (0 <= l < h)
//    3 + 3l          that next node's key word c      (the list's link words: see below)
//    4 + 3l          that next node's key word c + 1
//
// The head is the first record (name HEAD) and doubles as NIL: a link to HEAD means "no
// next", a back link to HEAD means "no previous", and the head's own back link names the
// last node.
//
// A search is bound by cache misses, not by arithmetic: every node it looks at lives
// somewhere else in memory. Hence the layout: the fields a search reads sit together at and
// after the name, and each link carries a copy of two of its target's key words, so that
// deciding whether to move on to the next node reads only the current record. The next record
// is touched when the search moves there (it needs that node's links anyway) or when the
// words tie. A key's words are its bytes 0..15 as four big-endian int32s (w0 = bytes 0..3,
// ..., w3 = bytes 12..15), zero-padded, the sign bit flipped, so that signed int32 order is
// unsigned byte order and they compare in one instruction; the node keeps all four (prefix
// hi, prefix lo, suffix hi, suffix lo), so a tie on the links' words is settled from the
// node's record, not the arena. Equal words do not mean equal leading bytes when a key is
// shorter than 16 ("a" and "a\0" pad alike), but then the shorter key is a prefix of the
// longer, so the comparison goes on from byte 16 and then by length.
//
// Which two words the links carry is the list's: words c and c + 1, where c (0, 1 or 2) is how
// many leading words every key in the list shares. Keys often share their first 4 or 8 bytes
// (db_bench's zero-padded decimal keys, "user:000..." keys, a tuple's first element), and
// links carrying words 0 and 1 would then tie at every step and touch the next record each
// time. A key that shares the list's leading words compares with any node by words c on; one
// that does not sorts before or after every key of the list, as the first word it differs in
// says. c starts at 2 with the first key's words and only shrinks, when an insert brings a key
// that does not share them: every link is then rewritten once (record by record in memory
// order, about 10 ms for 340k entries), at most twice in a list's life.
//
// Beside the list, a hash index (key-index.ts) names each user key's newest version: a point
// read starts there instead of searching, and a version of one level that is newer than every
// other of its key needs no search either (it goes right before the newest). A list shared
// with a worker has no index (the worker only iterates), nor has an immutable one (dropIndex():
// its memory is the next memtable's, and a get searches the list for the flush's while).
// The index doubles while small and, once the list holds an eighth of the keys its budget is
// expected to hold, grows once to their size (#indexSlotsWanted): the large rehashes of the
// doublings (4-18 ms at 262k keys, on the writer's path) are not done, and a memtable that
// stays small keeps a small index.
//
// `nodes` is reserved for the memtable's budget (untouched pages cost nothing), grows by
// doubling past it, and never shrinks (a pooled list may start with a large one). Nodes are never removed, so a node's name
// stays meaningful for the list's life: that is what lets an iterator survive inserts between
// its calls.

import { hugePageInts, invariant, ValueKind, type SeqNum } from '../base/index.js';
import { native, type SkipListEntries } from '../base/native.js';
import { Arena } from './arena.js';
import { KeyIndex, keyHash, tailHash } from './key-index.js';
import type { MemtablePool } from './pool.js';

const MAX_HEIGHT = 12;

const F_SUFFIX_HI = -10;
const F_SUFFIX_LO = -9;
const F_KEY_LENGTH = -8;
const F_CHUNK = -7;
const F_OFFSET = -6;
const F_VALUE_LENGTH = -5;
const F_PREV = -4;
const F_KIND = -3;
const F_SEQ_HI = -2;
const F_SEQ_LO = -1;
const F_PREFIX_HI = 0;
const F_PREFIX_LO = 1;
const F_NEXT = 2;
const LINK_INTS = 3;
const L_WORD1 = 1;
const L_WORD2 = 2;
const COLD_INTS = 10;
const NODE_FIXED_INTS = COLD_INTS + 2;

export const HEAD = COLD_INTS;

/**
 * The fields native/skiplist_blocks.c reads, for native.skipListView: key length, chunk,
 * offset, value length, kind, seq hi, seq lo, the level-0 link, and the head's name.
 */
const NATIVE_LAYOUT = Int32Array.of(F_KEY_LENGTH, F_CHUNK, F_OFFSET, F_VALUE_LENGTH, F_KIND, F_SEQ_HI, F_SEQ_LO, F_NEXT, HEAD);

/**
 * The numbers native/skiplist_search.c reads, for native.searchSkipList: the level-0 link, the
 * ints a link takes, a link's first key word, the suffix words, key length, seq hi, seq lo, the
 * head's name, and the stride of its preds (MAX_HEIGHT).
 */
const SEARCH_LAYOUT = Int32Array.of(F_NEXT, LINK_INTS, L_WORD1, F_SUFFIX_HI, F_SUFFIX_LO, F_KEY_LENGTH, F_SEQ_HI, F_SEQ_LO, HEAD, MAX_HEIGHT);
/**
 * A key as searchSkipList reads it: the links' two words, the suffix words, length, seq hi,
 * seq lo, and where its probe of the key index starts (in the index's table).
 */
const SEARCH_KEY_INTS = 8;
/** A hint: the key's four words, its length, seq hi, seq lo, and its search's number (-1: none). */
const HINT_INTS = 8;

/** The numbers native/skiplist_append.c reads, for native.appendToSkipList (its L_ enum, in order). */
const APPEND_LAYOUT = Int32Array.of(F_SUFFIX_HI, F_SUFFIX_LO, F_KEY_LENGTH, F_CHUNK, F_OFFSET, F_VALUE_LENGTH, F_PREV, F_KIND, F_SEQ_HI, F_SEQ_LO, F_PREFIX_HI, F_PREFIX_LO, F_NEXT, LINK_INTS, COLD_INTS, NODE_FIXED_INTS, HEAD, MAX_HEIGHT);
/** native/skiplist_append.c's state array (its S_ enum, in order). */
const A_AT = 0;
const A_LEFT = 1;
const A_SEQ = 2;
const A_NODES_USED = 3;
const A_COUNT = 4;
const A_HEIGHT = 5;
const A_RANDOM = 6;
const A_ARENA_USED = 7;
const A_CHUNK_ID = 8;
const A_INDEX_MASK = 9;
const A_INDEX_COUNT = 10;
const A_LINK_WORD = 11;
const A_COMMON0 = 12;
const A_COMMON1 = 13;
const A_LAST_HI = 14;
const A_LAST_LO = 15;
const A_MAX_ENTRY_BYTES = 16;
const A_KIND_MASK = 17;
const A_DELETE_KIND = 18;
const APPEND_STATE_FIELDS = 19;
/** The kinds a batch entry the addon appends may have: the point kinds (a RangeDelete goes to the memtable's tombstones). */
const APPEND_KINDS = (1 << ValueKind.Put) | (1 << ValueKind.Delete) | (1 << ValueKind.Merge) | (1 << ValueKind.PutWithExpiry);
/** Fewer searches than this in a group are left to insert(): the call costs more than it saves. */
const MIN_SEARCHES = 8;

const INITIAL_NODES = 1024;
/** The key index grows to its memtable's size once the list holds this fraction of the keys expected (#indexSlotsWanted). */
const INDEX_SIZED_AT = 1 / 8;
/** A key index slot's bytes, and the slots a key takes at the most load the index allows. */
const INDEX_SLOT_BYTES = 8;
const INDEX_SLOTS_PER_KEY = 2;
/** The most ints a node array holds (its names are int32). */
const MAX_NODE_INTS = 0x4000_0000;
const SIGN = 0x8000_0000;

/** Key bytes at..at+3 as a big-endian int32 with the sign bit flipped (zero-padded). */
function keyWord(key: Uint8Array, at: number): number {
  const n = key.length;
  if (n >= at + 4) return ((key[at]! << 24) | (key[at + 1]! << 16) | (key[at + 2]! << 8) | key[at + 3]!) ^ SIGN;
  let v = 0;
  for (let i = at; i < at + 4; i++) v = (v << 8) | (i < n ? key[i]! : 0);
  return v ^ SIGN;
}

/** A hint's or a search key's eight ints: two words, the suffix words, length, seq hi, seq lo, and one more. */
function putKeyInts(out: Int32Array, at: number, w1: number, w2: number, suffixHi: number, suffixLo: number, length: number, seqHi: number, seqLo: number, last: number): void {
  out[at] = w1;
  out[at + 1] = w2;
  out[at + 2] = suffixHi;
  out[at + 3] = suffixLo;
  out[at + 4] = length;
  out[at + 5] = seqHi;
  out[at + 6] = seqLo;
  out[at + 7] = last;
}

/** An Int32Array of at least `length` entries (doubling) that starts with `old`'s. */
function grownInts(old: Int32Array, length: number): Int32Array {
  const grown = new Int32Array(Math.max(length, old.length * 2, 64));
  grown.set(old);
  return grown;
}

/** The first key word a link carries when the list's links carry words c and c + 1 (of w0 = hi, w1 = lo, w2 = suffixHi, w3). */
function linkWord1(c: number, hi: number, lo: number, suffixHi: number): number {
  return c === 0 ? hi : c === 1 ? lo : suffixHi;
}

/** The second such word (of w1 = lo, w2 = suffixHi, w3 = suffixLo). */
function linkWord2(c: number, lo: number, suffixHi: number, suffixLo: number): number {
  return c === 0 ? lo : c === 1 ? suffixHi : suffixLo;
}

/** keyWord() of the key at bytes[from..from+length). */
function keyWordIn(bytes: Uint8Array, from: number, length: number, at: number): number {
  if (length >= at + 4) {
    const i = from + at;
    return ((bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!) ^ SIGN;
  }
  let v = 0;
  for (let i = at; i < at + 4; i++) v = (v << 8) | (i < length ? bytes[from + i]! : 0);
  return v ^ SIGN;
}

/** Key bytes 0..3 as a big-endian int32 with the sign bit flipped (zero-padded). */
export function prefixHi(key: Uint8Array): number {
  return keyWord(key, 0);
}

/** Key bytes 4..7, like prefixHi. */
export function prefixLo(key: Uint8Array): number {
  return keyWord(key, 4);
}

/** A list's memory, as it crosses to a worker thread. */
export interface SharedSkipList {
  nodes: Int32Array;
  nodesUsed: number;
  count: number;
  height: number;
  chunks: Uint8Array[];
  /** The link words (c) and the words every key shares (w0, w1; meaningful below c). */
  linkWord: number;
  common0: number;
  common1: number;
}

export class SkipList {
  readonly arena: Arena;
  nodes: Int32Array;
  /** Entries of `nodes` in use. */
  nodesUsed = NODE_FIXED_INTS + MAX_HEIGHT * LINK_INTS;
  /** Entries added so far. */
  count = 0;

  #height = 1;
  /** xorshift32 state; never 0. */
  #random = 0x2545_f491;
  /** The rightmost node before the insert position at each level, filled by a search. */
  readonly #preds = new Int32Array(MAX_HEIGHT);
  /**
   * The last node at each level (HEAD where a level is empty): the predecessors of an entry
   * that sorts after every other, so that an append (keys in order: fillseq, a bulk load)
   * needs no search. With the last node's prefixes, which reject most other inserts at once.
   */
  readonly #tails = new Int32Array(MAX_HEIGHT).fill(HEAD);
  #lastHi = 0;
  #lastLo = 0;
  /** c: links carry key words c and c + 1; every key in the list has words 0..c-1 equal to these. */
  #linkWord = 2;
  #common0 = 0;
  #common1 = 0;
  /**
   * Each node's height, in the order the nodes were made (their order in `nodes`), for
   * #relink. Not counted in the list's bytes: one byte a node, against the 64 or so of its
   * record.
   */
  #heights = new Uint8Array(INITIAL_NODES);

  /**
   * Hints (hint(), searchHinted()): the keys the next inserts will bring, in order, and where
   * the addon found them, all at once (native/skiplist_search.c). #hintCount hints, the next
   * insert's is #hintNext; #searchPreds holds the nodes before each searched key at the levels
   * below #searchHeight, valid when #searched.
   */
  #hints: Int32Array = new Int32Array(0);
  #hintCount = 0;
  #hintNext = 0;
  #hinting = false;
  #searchKeys: Int32Array = new Int32Array(0);
  #searchCount = 0;
  #searchPreds: Int32Array = new Int32Array(0);
  #searchHeight = 0;
  #searched = false;
  /** The key index slots (2 * firstSlot) of the hinted keys that go last, to prefetch. */
  #appendSlots: Int32Array = new Int32Array(0);
  #appendCount = 0;
  /** Inserts placed from a hint's search (for tests: the addon's path was taken). */
  hintedInserts = 0;
  /** Entries appendRun() linked in (for tests: the addon's path was taken). */
  appendedInserts = 0;
  /** Where the last appendRun() stopped: the offset of the first entry it did not take. */
  appendedTo = 0;
  readonly #appendState = new Float64Array(APPEND_STATE_FIELDS);

  readonly #pool: MemtablePool | undefined;
  /** Each user key's newest node; undefined for a list shared from another thread, and once recycled. */
  #index: KeyIndex | undefined;
  /** Leading entries of `nodes` ever written, by this list or, for a pooled array, before. */
  #touched = 0;
  /** The bytes the list's memtable is expected to reach (its budget), 0 when unknown. */
  readonly #expectedBytes: number;

  /**
   * An empty list, its memory from `pool` when given; or, with `shared`, a read-only view of
   * another list's memory.
   */
  constructor(arenaChunkBytes: number, shared?: SharedSkipList, pool?: MemtablePool, reservedNodeBytes = 0) {
    this.#pool = pool;
    this.#expectedBytes = reservedNodeBytes;
    if (shared !== undefined) {
      this.arena = new Arena(arenaChunkBytes, shared.chunks);
      this.nodes = shared.nodes;
      this.nodesUsed = shared.nodesUsed;
      this.count = shared.count;
      this.#height = shared.height;
      this.#linkWord = shared.linkWord;
      this.#common0 = shared.common0;
      this.#common1 = shared.common1;
      return;
    }
    this.arena = new Arena(arenaChunkBytes, undefined, pool);
    this.#index = new KeyIndex(pool);
    // Reserved whole: a fresh SharedArrayBuffer is zero pages that become resident only when
    // written, so a list sized for its memtable's budget costs what it uses and never grows
    // (growing leaves the old array behind, and SharedArrayBuffers are collected late); on
    // huge pages where it can be (src/base/huge-pages.ts).
    const initial = Math.max(INITIAL_NODES * (NODE_FIXED_INTS + 2 * LINK_INTS), Math.min(Math.floor(reservedNodeBytes / 4), MAX_NODE_INTS));
    const pooled = pool?.takeNodes(initial);
    this.nodes = pooled?.nodes ?? hugePageInts(initial, true);
    this.#touched = pooled?.touched ?? 0;
    // A pooled array holds an old list's nodes: only the head record is read before written.
    this.nodes.fill(0, 0, this.nodesUsed);
    for (let level = 0; level < MAX_HEIGHT; level++) this.nodes[HEAD + F_NEXT + level * LINK_INTS] = HEAD;
    this.nodes[HEAD + F_PREV] = HEAD;
  }

  /**
   * Everything a view of this list in another thread needs; the typed arrays share memory
   * (SharedArrayBuffer), so postMessage copies none of the entries. REQUIRES: no insert() after.
   */
  shared(): SharedSkipList {
    return {
      nodes: this.nodes,
      nodesUsed: this.nodesUsed,
      count: this.count,
      height: this.#height,
      chunks: this.arena.chunks,
      linkWord: this.#linkWord,
      common0: this.#common0,
      common1: this.#common1,
    };
  }

  get bytesInUse(): number {
    return this.arena.bytesInUse + this.nodesUsed * 4 + (this.#index?.bytes ?? 0);
  }

  /** The key index's bytes; 0 without one. */
  get indexBytes(): number {
    return this.#index?.bytes ?? 0;
  }

  /** Memory held: every arena chunk, and the part of the node array ever written (the rest is not resident). */
  get allocatedBytes(): number {
    return this.arena.allocatedBytes + Math.max(this.#touched, this.nodesUsed) * 4 + (this.#index?.bytes ?? 0);
  }

  /**
   * Compares user key `key` (whose prefixes are `hi`, `lo`) with node `n`'s user key:
   * negative, zero or positive. REQUIRES: n is not HEAD.
   */
  compareUserKey(key: Uint8Array, hi: number, lo: number, n: number): number {
    const nodes = this.nodes;
    const nodeHi = nodes[n + F_PREFIX_HI]!;
    if (hi !== nodeHi) return hi < nodeHi ? -1 : 1;
    const nodeLo = nodes[n + F_PREFIX_LO]!;
    if (lo !== nodeLo) return lo < nodeLo ? -1 : 1;
    return this.#compareSuffix(key, n);
  }

  /** Compares internal key (key, seq) with node `n`'s. REQUIRES: n is not HEAD. */
  compare(key: Uint8Array, hi: number, lo: number, seq: number, n: number): number {
    const c = this.compareUserKey(key, hi, lo, n);
    return c !== 0 ? c : this.#compareSeq(seq, n);
  }

  /** Compares user keys past their prefixes. REQUIRES: `key` and node `n` have equal prefixes. */
  #compareSuffix(key: Uint8Array, n: number): number {
    return this.#compareSuffixWords(key, keyWord(key, 8), keyWord(key, 12), n);
  }

  /** #compareSuffix() with the key's suffix words `hi` (bytes 8..11) and `lo` (12..15) given. */
  #compareSuffixWords(key: Uint8Array, hi: number, lo: number, n: number): number {
    const nodes = this.nodes;
    const nodeHi = nodes[n + F_SUFFIX_HI]!;
    if (hi !== nodeHi) return hi < nodeHi ? -1 : 1;
    const nodeLo = nodes[n + F_SUFFIX_LO]!;
    if (lo !== nodeLo) return lo < nodeLo ? -1 : 1;
    const keyLength = key.length;
    const nodeKeyLength = nodes[n + F_KEY_LENGTH]!;
    if (keyLength > 16 && nodeKeyLength > 16) {
      const chunk = this.arena.chunks[nodes[n + F_CHUNK]!]!;
      const offset = nodes[n + F_OFFSET]!;
      const common = keyLength < nodeKeyLength ? keyLength : nodeKeyLength;
      for (let i = 16; i < common; i++) {
        const d = key[i]! - chunk[offset + i]!;
        if (d !== 0) return d;
      }
    }
    return keyLength - nodeKeyLength;
  }

  /** Compares sequence numbers in internal order (descending). */
  #compareSeq(seq: number, n: number): number {
    const nodeSeq = this.seqOf(n);
    return seq > nodeSeq ? -1 : seq < nodeSeq ? 1 : 0;
  }

  /**
   * The node of the newest version of user key `key` (prefixes `hi`, `lo`), or HEAD when the
   * list holds none; undefined when the list has no index (then search).
   */
  newestOf(key: Uint8Array, hi: number, lo: number): number | undefined {
    const index = this.#index;
    if (index === undefined) return undefined;
    const suffixHi = keyWord(key, 8);
    const suffixLo = keyWord(key, 12);
    const hash = this.#keyHash(key, hi, lo, suffixHi, suffixLo);
    for (let slot = index.firstSlot(hash); ; slot = index.nextSlot(slot)) {
      const n = index.nodeAt(slot);
      if (n === 0) return HEAD;
      if (index.hashAt(slot) === hash && this.#sameKey(key, hi, lo, suffixHi, suffixLo, n)) return n;
    }
  }

  /** Whether node `n` holds user key `key`, given the key's four words. */
  #sameKey(key: Uint8Array, hi: number, lo: number, suffixHi: number, suffixLo: number, n: number): boolean {
    const nodes = this.nodes;
    return nodes[n + F_PREFIX_HI] === hi && nodes[n + F_PREFIX_LO] === lo && this.#compareSuffixWords(key, suffixHi, suffixLo, n) === 0;
  }

  #keyHash(key: Uint8Array, hi: number, lo: number, suffixHi: number, suffixLo: number): number {
    const tail = key.length > 16 ? tailHash(key, 16, key.length) : 0;
    return keyHash(hi, lo, suffixHi, suffixLo, key.length, tail);
  }

  /**
   * The first node at or after internal key (key, seq), or HEAD if there is none. `seq` may
   * be Infinity (before every version of key) or -1 (after every version). With
   * `recordPreds`, leaves in #preds the node before that position at every level.
   */
  findGreaterOrEqual(key: Uint8Array, hi: number, lo: number, seq: number, recordPreds: boolean): number {
    const nodes = this.nodes;
    const preds = this.#preds;
    const suffixHi = keyWord(key, 8);
    const suffixLo = keyWord(key, 12);
    const c = this.#linkWord;
    // A key without the list's shared words sorts before or after every key in it.
    const outside = c === 0 || this.count === 0 ? 0 : hi !== this.#common0 ? hi - this.#common0 : c === 2 && lo !== this.#common1 ? lo - this.#common1 : 0;
    if (outside !== 0) {
      const after = outside > 0;
      if (recordPreds) for (let level = 0; level < this.#height; level++) preds[level] = after ? this.#tails[level]! : HEAD;
      return after ? HEAD : nodes[HEAD + F_NEXT]!;
    }
    // The key's words that the links carry.
    const w1 = linkWord1(c, hi, lo, suffixHi);
    const w2 = linkWord2(c, lo, suffixHi, suffixLo);
    let x = HEAD;
    let level = this.#height - 1;
    // A node found not to be before the target at one level is not before it at the next.
    let notBefore = HEAD;
    for (;;) {
      const link = x + F_NEXT + level * LINK_INTS;
      const next = nodes[link]!;
      if (next !== HEAD && next !== notBefore && this.#sortsAfter(key, w1, w2, suffixHi, suffixLo, seq, link, next)) {
        x = next;
      } else {
        if (recordPreds) preds[level] = x;
        if (level === 0) return next;
        notBefore = next;
        level--;
      }
    }
  }

  /**
   * Whether internal key (key, seq), whose link words are w1, w2 and suffix words suffixHi,
   * suffixLo, sorts after node `next`, reached through `link`. REQUIRES: next is not HEAD.
   */
  #sortsAfter(key: Uint8Array, w1: number, w2: number, suffixHi: number, suffixLo: number, seq: number, link: number, next: number): boolean {
    const nodes = this.nodes;
    const nextW1 = nodes[link + L_WORD1]!;
    if (w1 !== nextW1) return w1 > nextW1;
    const nextW2 = nodes[link + L_WORD2]!;
    if (w2 !== nextW2) return w2 > nextW2;
    // Words 0..c+1 tie: the node's suffix words and the bytes past them decide.
    const c = this.#compareSuffixWords(key, suffixHi, suffixLo, next);
    return c > 0 || (c === 0 && this.#compareSeq(seq, next) > 0);
  }

  /**
   * Starts hinting (hint(), searchHinted()): the inserts that follow take the hints in order.
   * Without the addon, for a list with no index, or for an empty one, hints are not taken:
   * returns whether they are.
   */
  beginHints(): boolean {
    this.#hintCount = 0;
    this.#hintNext = 0;
    this.#searchCount = 0;
    this.#searched = false;
    this.#appendCount = 0;
    this.#hinting = native.searchSkipList !== undefined && this.#index !== undefined && this.count > 0;
    return this.#hinting;
  }

  /**
   * Says that an insert of the key at bytes[from..from+length) at `seq` comes next (after the
   * hints before it). A key that goes after every entry now is noted and not searched.
   */
  hint(bytes: Uint8Array, from: number, length: number, seq: SeqNum): void {
    if (!this.#hinting) return;
    const hi = keyWordIn(bytes, from, length, 0);
    const lo = keyWordIn(bytes, from, length, 4);
    const c = this.#linkWord;
    // A key without the list's shared words changes the links' words (insert(), #relink): no hints.
    if ((c > 0 && hi !== this.#common0) || (c > 1 && lo !== this.#common1)) {
      this.#hinting = false;
      this.#hintCount = 0;
      return;
    }
    const suffixHi = keyWordIn(bytes, from, length, 8);
    const suffixLo = keyWordIn(bytes, from, length, 12);
    const seqHi = Math.floor(seq / 0x1_0000_0000);
    const seqLo = seq | 0;
    let search = -1;
    const slot = 2 * this.#index!.firstSlot(keyHash(hi, lo, suffixHi, suffixLo, length, length > 16 ? tailHash(bytes, from + 16, from + length) : 0));
    if (!this.#afterLast(hi, lo, suffixHi, suffixLo)) {
      search = this.#searchCount++;
      let keys = this.#searchKeys;
      if (keys.length < this.#searchCount * SEARCH_KEY_INTS) keys = this.#searchKeys = grownInts(keys, this.#searchCount * SEARCH_KEY_INTS);
      const w1 = linkWord1(c, hi, lo, suffixHi);
      const w2 = linkWord2(c, lo, suffixHi, suffixLo);
      putKeyInts(keys, search * SEARCH_KEY_INTS, w1, w2, suffixHi, suffixLo, length, seqHi, seqLo, slot);
    } else {
      if (this.#appendSlots.length <= this.#appendCount) this.#appendSlots = grownInts(this.#appendSlots, this.#appendCount + 1);
      this.#appendSlots[this.#appendCount++] = slot;
    }
    const at = this.#hintCount++ * HINT_INTS;
    let hints = this.#hints;
    if (hints.length < at + HINT_INTS) hints = this.#hints = grownInts(hints, at + HINT_INTS);
    putKeyInts(hints, at, hi, lo, suffixHi, suffixLo, length, seqHi, seqLo, search);
  }

  /** Searches for every hinted key at once (the addon), before the inserts that take the hints. */
  searchHinted(): void {
    if (!this.#hinting) return;
    // Too few of either, and the call costs more than it saves.
    const count = this.#searchCount >= MIN_SEARCHES ? this.#searchCount : 0;
    if (count === 0 && this.#appendCount < MIN_SEARCHES) return;
    const need = count * MAX_HEIGHT;
    if (this.#searchPreds.length < need) this.#searchPreds = grownInts(this.#searchPreds, need);
    this.#searchHeight = this.#height;
    // The index may grow before the inserts (a probe then starts elsewhere): a prefetch wasted.
    const status = native.searchSkipList!(this.nodes, SEARCH_LAYOUT, this.#searchKeys, count, this.#height, this.#searchPreds, this.#index!.table, this.#appendSlots, this.#appendCount);
    this.#searched = count > 0 && status === 0;
  }

  /**
   * Whether appendRun() would take the key at bytes[from..from+length) (its words sort after the
   * last node's; a tie: no): the addon is there and the list is not empty.
   */
  goesLast(bytes: Uint8Array, from: number, length: number): boolean {
    if (native.appendToSkipList === undefined || this.#index === undefined || this.count === 0) return false;
    return this.#afterLast(keyWordIn(bytes, from, length, 0), keyWordIn(bytes, from, length, 4), keyWordIn(bytes, from, length, 8), keyWordIn(bytes, from, length, 12));
  }

  /** Whether a key of these words sorts after the last node's key by its words alone (a tie: no). */
  #afterLast(hi: number, lo: number, suffixHi: number, suffixLo: number): boolean {
    const last = this.#tails[0]!;
    if (last === HEAD) return true;
    const nodes = this.nodes;
    if (hi !== nodes[last + F_PREFIX_HI]) return hi > nodes[last + F_PREFIX_HI]!;
    if (lo !== nodes[last + F_PREFIX_LO]) return lo > nodes[last + F_PREFIX_LO]!;
    if (suffixHi !== nodes[last + F_SUFFIX_HI]) return suffixHi > nodes[last + F_SUFFIX_HI]!;
    return suffixLo > nodes[last + F_SUFFIX_LO]!;
  }

  /**
   * The search number of the next hint if it is this insert's (same key words, length and
   * seq) and was searched; -1 otherwise. A hint that is not this insert's drops the rest.
   */
  #takeHint(hi: number, lo: number, suffixHi: number, suffixLo: number, length: number, seq: SeqNum): number {
    if (this.#hintNext >= this.#hintCount) return -1;
    const at = this.#hintNext++ * HINT_INTS;
    const hints = this.#hints;
    if (hints[at] !== hi || hints[at + 1] !== lo || hints[at + 2] !== suffixHi || hints[at + 3] !== suffixLo || hints[at + 4] !== length || hints[at + 5] !== Math.floor(seq / 0x1_0000_0000) || hints[at + 6] !== (seq | 0)) {
      this.#hintCount = 0;
      return -1;
    }
    return this.#searched ? hints[at + 7]! : -1;
  }

  /**
   * findGreaterOrEqual(..., recordPreds) from search `search`'s nodes, at the levels below
   * `height` (the new node's: the only ones it links into): at each, on from the node the addon
   * found (still before the key: nodes are never removed) past the nodes
   * inserted since. The levels are independent: the others are not read.
   */
  #findFromHint(search: number, height: number, key: Uint8Array, hi: number, lo: number, suffixHi: number, suffixLo: number, seq: number): number {
    this.hintedInserts++;
    const nodes = this.nodes;
    const preds = this.#preds;
    const found = this.#searchPreds;
    const base = search * MAX_HEIGHT;
    const c = this.#linkWord;
    const w1 = linkWord1(c, hi, lo, suffixHi);
    const w2 = linkWord2(c, lo, suffixHi, suffixLo);
    for (let level = Math.min(height, this.#height) - 1; level >= 0; level--) {
      let x = level < this.#searchHeight ? found[base + level]! : HEAD;
      for (;;) {
        const link = x + F_NEXT + level * LINK_INTS;
        const next = nodes[link]!;
        if (next === HEAD || !this.#sortsAfter(key, w1, w2, suffixHi, suffixLo, seq, link, next)) break;
        x = next;
      }
      preds[level] = x;
    }
    return nodes[preds[0]! + F_NEXT]!;
  }

  /** The last node, or HEAD when the list is empty. */
  last(): number {
    return this.nodes[HEAD + F_PREV]!;
  }

  next(n: number): number {
    return this.nodes[n + F_NEXT]!;
  }

  prev(n: number): number {
    return this.nodes[n + F_PREV]!;
  }

  seqOf(n: number): SeqNum {
    return this.nodes[n + F_SEQ_HI]! * 0x1_0000_0000 + (this.nodes[n + F_SEQ_LO]! >>> 0);
  }

  kindOf(n: number): ValueKind {
    return this.nodes[n + F_KIND] as ValueKind;
  }

  /** The list's entries for the addon (SkipListEntries). REQUIRES: no insert() after. */
  run(): SkipListEntries {
    return { nodes: this.nodes, chunks: this.arena.chunks, layout: NATIVE_LAYOUT, first: this.nodes[HEAD + F_NEXT]!, end: HEAD, keyOf: (n) => this.keyOf(n) };
  }

  keyOf(n: number): Uint8Array {
    const offset = this.nodes[n + F_OFFSET]!;
    return this.arena.chunks[this.nodes[n + F_CHUNK]!]!.subarray(offset, offset + this.nodes[n + F_KEY_LENGTH]!);
  }

  valueOf(n: number): Uint8Array {
    const offset = this.nodes[n + F_OFFSET]! + this.nodes[n + F_KEY_LENGTH]!;
    return this.arena.chunks[this.nodes[n + F_CHUNK]!]!.subarray(offset, offset + this.nodes[n + F_VALUE_LENGTH]!);
  }

  /** Inserts a copy of the entry. REQUIRES: (key, seq) is not in the list (checked). */
  insert(seq: SeqNum, kind: ValueKind, key: Uint8Array, value: Uint8Array): void {
    const hi = prefixHi(key);
    const lo = prefixLo(key);
    const suffixHi = keyWord(key, 8);
    const suffixLo = keyWord(key, 12);
    // The key's slot in the index (its own, or the empty one it would take) and newest node.
    const index = this.#index;
    let slot = -1;
    let hash = 0;
    let newest = HEAD;
    if (index !== undefined) {
      if (index.full) index.grow(this.#indexSlotsWanted());
      hash = this.#keyHash(key, hi, lo, suffixHi, suffixLo);
      for (slot = index.firstSlot(hash); ; slot = index.nextSlot(slot)) {
        const n = index.nodeAt(slot);
        if (n === 0) break;
        if (index.hashAt(slot) === hash && this.#sameKey(key, hi, lo, suffixHi, suffixLo, n)) {
          newest = n;
          break;
        }
      }
    }
    const isNewest = newest === HEAD || seq > this.seqOf(newest);
    const search = this.#hintCount > 0 ? this.#takeHint(hi, lo, suffixHi, suffixLo, key.length, seq) : -1;
    if (this.count === 0) {
      this.#common0 = hi;
      this.#common1 = lo;
    } else if (this.#linkWord > 0 && hi !== this.#common0) {
      this.#relink(0);
    } else if (this.#linkWord > 1 && lo !== this.#common1) {
      this.#relink(1);
    }
    const c = this.#linkWord;
    const w1 = linkWord1(c, hi, lo, suffixHi);
    const w2 = linkWord2(c, lo, suffixHi, suffixLo);

    const height = this.#randomHeight();
    const preds = this.#preds;
    let successor: number;
    if (newest !== HEAD && isNewest && height === 1) {
      // Right before the key's newest version: a node of one level needs only its level-0 predecessor.
      successor = newest;
      preds[0] = this.nodes[newest + F_PREV]!;
    } else if (this.#sortsLast(key, hi, lo, seq)) {
      successor = HEAD;
      for (let level = 0; level < this.#height; level++) preds[level] = this.#tails[level]!;
    } else {
      successor = search >= 0 ? this.#findFromHint(search, height, key, hi, lo, suffixHi, suffixLo, seq) : this.findGreaterOrEqual(key, hi, lo, seq, true);
      // (key, seq) present needs a version of key numbered seq: there is none when the index
      // knows no version of key, or seq is above its newest's (and reading the successor
      // would cost a cache miss an insert).
      const mayHold = index === undefined || (newest !== HEAD && !isNewest);
      invariant(!mayHold || successor === HEAD || this.compare(key, hi, lo, seq, successor) !== 0, 'memtable already holds this key at this sequence number');
    }

    if (height > this.#height) {
      for (let level = this.#height; level < height; level++) preds[level] = HEAD;
      this.#height = height;
    }
    const start = this.nodesUsed;
    const size = NODE_FIXED_INTS + height * LINK_INTS;
    if (start + size > this.nodes.length) this.#growNodes();

    const keyLength = key.length;
    const valueLength = value.length;
    const arena = this.arena;
    const chunk = arena.allocate(keyLength + valueLength);
    const offset = arena.offset;
    if (keyLength <= 32) {
      for (let i = 0; i < keyLength; i++) chunk[offset + i] = key[i]!;
    } else {
      chunk.set(key, offset);
    }
    chunk.set(value, offset + keyLength);

    if (this.count === this.#heights.length) this.#reserveHeights(1);
    this.#heights[this.count++] = height;
    this.nodesUsed = start + size;
    const n = start + COLD_INTS;
    const nodes = this.nodes;
    nodes[n + F_PREFIX_HI] = hi;
    nodes[n + F_PREFIX_LO] = lo;
    nodes[n + F_SUFFIX_HI] = suffixHi;
    nodes[n + F_SUFFIX_LO] = suffixLo;
    nodes[n + F_KEY_LENGTH] = keyLength;
    nodes[n + F_CHUNK] = arena.chunkId;
    nodes[n + F_OFFSET] = offset;
    nodes[n + F_VALUE_LENGTH] = valueLength;
    nodes[n + F_PREV] = preds[0]!;
    nodes[n + F_KIND] = kind;
    nodes[n + F_SEQ_HI] = Math.floor(seq / 0x1_0000_0000);
    nodes[n + F_SEQ_LO] = seq | 0;
    for (let level = 0; level < height; level++) {
      const link = n + F_NEXT + level * LINK_INTS;
      const predLink = preds[level]! + F_NEXT + level * LINK_INTS;
      nodes[link] = nodes[predLink]!;
      nodes[link + L_WORD1] = nodes[predLink + L_WORD1]!;
      nodes[link + L_WORD2] = nodes[predLink + L_WORD2]!;
      nodes[predLink] = n;
      nodes[predLink + L_WORD1] = w1;
      nodes[predLink + L_WORD2] = w2;
    }
    // With no successor this sets the head's back link: n is the new last node.
    nodes[successor + F_PREV] = n;
    if (successor === HEAD) {
      this.#lastHi = hi;
      this.#lastLo = lo;
    }
    const tails = this.#tails;
    for (let level = 0; level < height; level++) if (nodes[n + F_NEXT + level * LINK_INTS] === HEAD) tails[level] = n;
    if (index !== undefined && isNewest) index.set(slot, n, hash);
  }

  /** Grows the heights array (doubling it at least) to hold `more` nodes after the `count` there are. */
  #reserveHeights(more: number): void {
    const heights = new Uint8Array(Math.max(2 * this.#heights.length, this.count + more));
    heights.set(this.#heights);
    this.#heights = heights;
  }

  /**
   * Links in, in one call of the addon, the leading ones of the `count` batch entries encoded
   * from bytes[at] on (src/base/batch-format.ts; the first numbered `seq`) that go after every
   * entry of the list, exactly as insert() would one by one; returns how many (appendedTo:
   * where it stopped). It stops at an entry that does not sort after the last (or shares the
   * list's leading words, or is a RangeDelete) and at one that needs room first (an arena
   * chunk, node array, key index or heights array full, an entry of its own chunk); 0 without
   * the addon or a key index, or for an empty list. `fillbatch`'s inserts cost about a fifth of
   * what they cost one by one here (README, "Native addon").
   */
  appendRun(bytes: Uint8Array, at: number, seq: SeqNum, count: number): number {
    const append = native.appendToSkipList;
    const index = this.#index;
    const current = this.arena.current;
    if (append === undefined || index === undefined || current === undefined || this.count === 0 || count === 0) return 0;
    if (this.#heights.length < this.count + count) this.#reserveHeights(count);
    const st = this.#appendState;
    st[A_AT] = at;
    st[A_LEFT] = count;
    st[A_SEQ] = seq;
    st[A_NODES_USED] = this.nodesUsed;
    st[A_COUNT] = this.count;
    st[A_HEIGHT] = this.#height;
    st[A_RANDOM] = this.#random;
    st[A_ARENA_USED] = current.used;
    st[A_CHUNK_ID] = current.id;
    st[A_INDEX_MASK] = index.mask;
    st[A_INDEX_COUNT] = index.count;
    st[A_LINK_WORD] = this.#linkWord;
    st[A_COMMON0] = this.#common0;
    st[A_COMMON1] = this.#common1;
    st[A_LAST_HI] = this.#lastHi;
    st[A_LAST_LO] = this.#lastLo;
    st[A_MAX_ENTRY_BYTES] = this.arena.chunkBytes >>> 2;
    st[A_KIND_MASK] = APPEND_KINDS;
    st[A_DELETE_KIND] = ValueKind.Delete;
    const n = append(this.nodes, APPEND_LAYOUT, current.chunk, index.table, this.#heights, this.#tails, st, bytes);
    this.appendedTo = st[A_AT]!;
    if (n === 0) return 0;
    this.nodesUsed = st[A_NODES_USED]!;
    this.count = st[A_COUNT]!;
    this.#height = st[A_HEIGHT]!;
    this.#random = st[A_RANDOM]!;
    this.arena.advance(st[A_ARENA_USED]!);
    index.added(st[A_INDEX_COUNT]! - index.count);
    this.#lastHi = st[A_LAST_HI]!;
    this.#lastLo = st[A_LAST_LO]!;
    this.appendedInserts += n;
    // The group's hints for these entries (one an entry, in order) are spent.
    if (this.#hintCount > 0) this.#hintNext = Math.min(this.#hintCount, this.#hintNext + n);
    return n;
  }

  /** Makes the links carry key words `c` and `c + 1` (c below the list's current one). */
  #relink(c: number): void {
    const nodes = this.nodes;
    const first = c === 0 ? F_PREFIX_HI : F_PREFIX_LO;
    const second = c === 0 ? F_PREFIX_LO : F_SUFFIX_HI;
    // Record by record in the order they lie in `nodes` (the head's first), not along each
    // level: the reads of the links' targets do not wait for one another then, so their cache
    // misses overlap (along the levels, 340k entries took 54-78 ms).
    const heights = this.#heights;
    let n = HEAD;
    for (let i = -1; i < this.count; i++) {
      const height = i < 0 ? MAX_HEIGHT : heights[i]!;
      for (let level = 0; level < height; level++) {
        const link = n + F_NEXT + level * LINK_INTS;
        const next = nodes[link]!;
        if (next === HEAD) continue;
        nodes[link + L_WORD1] = nodes[next + first]!;
        nodes[link + L_WORD2] = nodes[next + second]!;
      }
      n += NODE_FIXED_INTS + height * LINK_INTS;
    }
    this.#linkWord = c;
  }

  /** Whether (key, seq) sorts after every entry in the list (true for an empty list). */
  #sortsLast(key: Uint8Array, hi: number, lo: number, seq: number): boolean {
    const last = this.#tails[0]!;
    if (last === HEAD) return true;
    if (hi !== this.#lastHi) return hi > this.#lastHi;
    if (lo !== this.#lastLo) return lo > this.#lastLo;
    return this.compare(key, hi, lo, seq, last) > 0;
  }

  /** 1 + the number of leading successes of p = 1/4 trials, capped at MAX_HEIGHT. */
  #randomHeight(): number {
    let s = this.#random;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.#random = s;
    let height = 1;
    while (height < MAX_HEIGHT && (s & 3) === 0) {
      height++;
      s >>>= 2;
    }
    return height;
  }

  #growNodes(): void {
    const capacity = Math.min(this.nodes.length * 2, MAX_NODE_INTS);
    invariant(capacity > this.nodes.length, 'memtable nodes fit an int32-indexed array');
    const nodes = hugePageInts(capacity, true);
    nodes.set(this.nodes.subarray(0, this.nodesUsed));
    // Nobody keeps the old array: readers and iterators go through this.nodes on every step.
    this.#pool?.give([], this.nodes, Math.max(this.#touched, this.nodesUsed));
    this.nodes = nodes;
    this.#touched = 0;
  }

  /**
   * The slots the key index needs for the whole memtable, estimated from the entries so far:
   * the keys its budget holds at their average size (with their slots), two slots a key; 0 (a
   * doubling) while the list holds less than INDEX_SIZED_AT of them, or the budget is unknown.
   */
  #indexSlotsWanted(): number {
    if (this.#expectedBytes === 0 || this.count === 0) return 0;
    const perKey = (this.arena.bytesInUse + this.nodesUsed * 4) / this.count + INDEX_SLOTS_PER_KEY * INDEX_SLOT_BYTES;
    const keys = Math.ceil(this.#expectedBytes / perKey);
    return this.count < keys * INDEX_SIZED_AT ? 0 : INDEX_SLOTS_PER_KEY * keys;
  }

  /**
   * Gives the key index's memory back (to the pool): the list takes no more inserts, and
   * newestOf() answers undefined from now on (readers search). REQUIRES: no insert() after.
   */
  dropIndex(): void {
    this.#index?.recycle();
    this.#index = undefined;
  }

  /** Gives this list's memory to `pool`. REQUIRES: nothing reads or writes the list again. */
  recycle(pool: MemtablePool): void {
    this.dropIndex();
    pool.give(this.arena.chunks, this.nodes, Math.max(this.#touched, this.nodesUsed));
  }
}
