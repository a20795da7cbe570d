// A point read of one table in one call: its bloom filter, its index's binary search and the
// search of the data block read from the table's mapping, for TableReader.get
// (src/sstable/table-reader.ts), which answers from what this leaves in `out` and does itself
// what this leaves to it (a block in the block cache, or one it admits, or one of megabytes);
// and of several tables one after another in one call (tablesGet: level 0's, for TableCache).
//
// blockSlots(count) → slots, setBlockSlot(slots, i, contents | null)
//   the blocks of one table file that the block cache holds (src/sstable/block-cache.ts sets
//   and clears them as it inserts and evicts): block i's checked contents, referenced while set,
//   in a hash table that grows with the blocks cached (not with the file: a per-block array
//   would cost 20 bytes a block of every open table, half as much again as its index).
// tableSearch(parts, numbers, out) → search
//   parts   [words, keys, keyOffsets, seqs, blockOffsets, blockSizes, bloomBits, cached,
//            missedOnce, mapped, slots]: the table's decoded index (src/sstable/table-index.ts:
//            the separators' leading words, their bytes and ends, their sequence numbers, the
//            data blocks' offsets and sizes), its filter's bits (src/sstable/bloom.ts), one
//            byte a block, 0 while the block cache does not hold it, 2 once a read used it
//            there (its CLOCK reference bit), the cache's admission window (null without a
//            cache), the file's mapping, and its blockSlots (null without a cache). The search
//            holds a reference to each: none may change but `cached`, `missedOnce`, `slots`.
//   numbers [skip, probes, fileNumber, slotShift, largeBytes, noneCode, lz4Code, maxContents,
//            kinds]
//   out     a Float64Array of OUT_FIELDS + 3: every answer of tableGet is left there
// tableGet(search, key, seq) → TABLE_ABSENT | TABLE_FOUND | TABLE_BLOCK | string
//   TABLE_ABSENT  no entry for key at or below seq in the table
//   TABLE_FOUND   out: seq, kind, value offset and length in this thread's scratch buffer (a
//                 value found in a cached block is copied there)
//   TABLE_BLOCK   out[OUT_BLOCK]: the caller goes on from that data block itself; out[OUT_ADMIT]
//                 1 when the block cache admitted it here (the window's slot taken)
//   string        what is wrong with data block out[OUT_BLOCK] (out[0] 1: with its contents)
//   Every call: out[OUT_MISSES] and out[OUT_HITS] the block-cache misses (blocks read past the
//   cache) and hits it counted.
// tableWalk(searches, bounds, seqs, ends) → walk
//   searches  an Array of tableSearch handles sharing one `out`, in the order a read consults
//             them (level 0's tables, newest first, then each deeper level's files in key
//             order); the walk holds a reference to each
//   bounds    an Array of two Uint8Arrays a search: its table's smallest and largest user keys
//             (copied)
//   seqs      a Float64Array: each table's smallest sequence number
//   ends      a Uint32Array: where each table's run ends (exclusive): a level's files (sorted,
//             disjoint) are one run, a table of level 0 a run of its own (ends[i] = i + 1)
// tablesGet(walk, from, key, seq) → as tableGet
//   tableGet of the tables from `from` on, run by run: of a level's files the one whose range
//   reaches key (a binary search), of level 0 each; skipping a table whose key range does not
//   hold key or whose entries are all newer than seq (Version.get's mayHold), up to the first
//   answer that is not TABLE_ABSENT; out[OUT_TABLE] names the table that gave it. Its misses
//   and hits are counted across the tables. One call instead of one a table: a get over four
//   level-0 tables and a level 1 crossed into the addon five times, and ran the JavaScript of
//   each table's lookup.

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "block_read.h"
#include "bytes.h"
#include "table_get.h"

#define BLOOM_SEED 0xbc9f1d34u
enum { PART_WORDS, PART_KEYS, PART_KEY_OFFSETS, PART_SEQS, PART_BLOCK_OFFSETS, PART_BLOCK_SIZES, PART_BLOOM, PART_CACHED, PART_MISSED, PART_MAPPED, PART_SLOTS, PARTS };
enum { NUM_SKIP, NUM_PROBES, NUM_FILE, NUM_SLOT_SHIFT, NUM_LARGE, NUM_NONE, NUM_LZ4, NUM_MAX_CONTENTS, NUM_KINDS, NUMBERS };
enum { TABLE_ABSENT = 0, TABLE_FOUND = 1, TABLE_BLOCK = 2, SEARCH_DAMAGED = -1, SEARCH_FAILED = -2 };
enum { OUT_BLOCK = OUT_FIELDS, OUT_ADMIT, OUT_MISSES, OUT_HITS, OUT_TABLE, OUT_ALL };
enum { CACHED_NOT = 0, CACHED_REFERENCED = 2 };

// A file's cached blocks, by block number: an open-addressing table (linear probing, at most
// half full), so that its memory follows the blocks the cache holds, not the file's size.
typedef struct {
  const uint8_t* data;  // NULL: an empty slot
  uint32_t block;
  uint32_t length;
  napi_ref ref;
} Slot;

typedef struct {
  uint32_t count;  // the file's data blocks
  uint32_t used;
  uint32_t mask;  // capacity - 1; 0 with no table yet
  Slot* slots;
} BlockSlots;

static inline uint32_t slot_home(const BlockSlots* b, uint32_t block) {
  return (block * 0x9e3779b1u) & b->mask;
}

/** Block `block`'s slot, or NULL when it is not cached. */
static const Slot* find_slot(const BlockSlots* b, uint32_t block) {
  if (b->slots == NULL) return NULL;
  for (uint32_t i = slot_home(b, block);; i = (i + 1) & b->mask) {
    if (b->slots[i].data == NULL) return NULL;
    if (b->slots[i].block == block) return &b->slots[i];
  }
}

/** Places `slot` (not present) in the table, which has room. */
static void place_slot(BlockSlots* b, Slot slot) {
  uint32_t i = slot_home(b, slot.block);
  while (b->slots[i].data != NULL) i = (i + 1) & b->mask;
  b->slots[i] = slot;
  b->used++;
}

/** Room for one more slot: the table doubled (or made) when it would be over half full. False when out of memory. */
static bool reserve_slot(BlockSlots* b) {
  uint32_t capacity = b->slots == NULL ? 0 : b->mask + 1;
  if ((b->used + 1) * 2 <= capacity) return true;
  uint32_t grown = capacity == 0 ? 16 : 2 * capacity;
  Slot* old = b->slots;
  b->slots = calloc(grown, sizeof *b->slots);
  if (b->slots == NULL) {
    b->slots = old;
    return false;
  }
  b->mask = grown - 1;
  b->used = 0;
  for (uint32_t i = 0; i < capacity; i++) {
    if (old[i].data != NULL) place_slot(b, old[i]);
  }
  free(old);
  return true;
}

/** Takes block `block` out of the table (its reference deleted), moving later slots back into the gap. */
static void remove_slot(napi_env env, BlockSlots* b, uint32_t block) {
  const Slot* found = find_slot(b, block);
  if (found == NULL) return;
  uint32_t i = (uint32_t)(found - b->slots);
  napi_delete_reference(env, b->slots[i].ref);
  for (uint32_t j = (i + 1) & b->mask; b->slots[j].data != NULL; j = (j + 1) & b->mask) {
    uint32_t home = slot_home(b, b->slots[j].block);
    // Slot j may move to the gap at i when its home is not cyclically in (i, j].
    bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!stays) {
      b->slots[i] = b->slots[j];
      i = j;
    }
  }
  b->slots[i].data = NULL;
  b->used--;
}

static void finalize_slots(napi_env env, void* data, void* hint) {
  (void)hint;
  BlockSlots* b = data;
  if (b->slots != NULL) {
    for (uint32_t i = 0; i <= b->mask; i++) {
      if (b->slots[i].data != NULL) napi_delete_reference(env, b->slots[i].ref);
    }
  }
  free(b->slots);
  free(b);
}

napi_value block_slots_js(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  size_t argc = 1;
  uint32_t count;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_uint32(env, argv[0], &count) != napi_ok) {
    napi_throw_type_error(env, NULL, "stratadb_io: blockSlots(count)");
    return NULL;
  }
  BlockSlots* b = calloc(1, sizeof *b);
  if (b == NULL || napi_create_external(env, b, finalize_slots, NULL, &result) != napi_ok) {
    free(b);
    napi_throw_error(env, NULL, "stratadb_io: out of memory");
    return NULL;
  }
  b->count = count;
  return result;
}

napi_value set_block_slot_js(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  size_t argc = 3, length = 0;
  void* data;
  uint32_t i;
  napi_valuetype type = napi_undefined;
  const uint8_t* contents = NULL;
  bool ok = napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == 3 && napi_get_value_external(env, argv[0], &data) == napi_ok &&
            napi_get_value_uint32(env, argv[1], &i) == napi_ok && napi_typeof(env, argv[2], &type) == napi_ok;
  BlockSlots* b = data;
  ok = ok && i < b->count && (type == napi_null || (contents = typed_array_data(env, argv[2], napi_uint8_array, &length)) != NULL) && length <= UINT32_MAX;
  if (!ok) {
    napi_throw_type_error(env, NULL, "stratadb_io: setBlockSlot(slots, i, contents | null)");
    return NULL;
  }
  remove_slot(env, b, i);
  if (contents != NULL) {
    Slot slot = {contents, i, (uint32_t)length, NULL};
    if (!reserve_slot(b) || napi_create_reference(env, argv[2], 1, &slot.ref) != napi_ok) {
      napi_throw_error(env, NULL, "stratadb_io: could not keep a cached block");
      return NULL;
    }
    place_slot(b, slot);
  }
  return NULL;
}

typedef struct {
  napi_ref refs[PARTS + 1];
  const uint32_t* words;
  const uint8_t* keys;
  const uint32_t* key_offsets;
  const double* seqs;
  const double* block_offsets;
  const uint32_t* block_sizes;
  const uint8_t* bloom;
  uint64_t bloom_bits;
  uint8_t* cached;
  int32_t* missed;  // NULL: no cache
  BlockSlots* slots;  // NULL: no cache
  Mapping* mapping;
  uint8_t* scratch;
  double* out;
  uint32_t count, skip, probes, file_number, slot_shift, none_code, lz4_code, kinds;
  int64_t large_bytes, max_contents;
} TableSearch;

static void finalize_search(napi_env env, void* data, void* hint) {
  (void)hint;
  TableSearch* t = data;
  for (int i = 0; i <= PARTS; i++) {
    if (t->refs[i] != NULL) napi_delete_reference(env, t->refs[i]);
  }
  free(t);
}

/** The first four bytes of p[0..length), big-endian, zero-padded (table-index.ts's prefixAt). */
static inline uint32_t prefix_at(const uint8_t* p, size_t length) {
  return ((length > 0 ? (uint32_t)p[0] : 0) << 24) | ((length > 1 ? (uint32_t)p[1] : 0) << 16) | ((length > 2 ? (uint32_t)p[2] : 0) << 8) |
         (length > 3 ? (uint32_t)p[3] : 0);
}

/** BloomFilter.mayContainHash(hash), hash = bloomHash(key). */
static bool may_contain(const TableSearch* t, uint32_t hash) {
  if (t->probes == 0) return true;
  uint32_t h = hash;
  uint32_t delta = (h >> 17) | (h << 15);
  for (uint32_t j = 0; j < t->probes; j++) {
    uint64_t bit = (uint64_t)h % t->bloom_bits;
    if ((t->bloom[bit >> 3] & (1u << (bit & 7))) == 0) return false;
    h += delta;
  }
  return true;
}

/** Separator i against (key, seq), both past the common prefix (TableIndex's #compareFull). */
static int compare_separator(const TableSearch* t, uint32_t i, const uint8_t* key, size_t key_length, double seq) {
  size_t start = t->key_offsets[i], a_length = t->key_offsets[i + 1] - start;
  size_t n = a_length < key_length ? a_length : key_length;
  for (size_t j = t->skip; j < n; j++) {
    int d = (int)t->keys[start + j] - (int)key[j];
    if (d != 0) return d;
  }
  if (a_length != key_length) return a_length < key_length ? -1 : 1;
  double s = t->seqs[i];
  return s > seq ? -1 : s < seq ? 1 : 0;
}

/** TableIndex.find: the first data block whose separator is at or after (key, seq); count when none. */
static uint32_t index_find(const TableSearch* t, const uint8_t* key, size_t key_length, double seq) {
  uint32_t count = t->count, skip = t->skip;
  if (count == 0) return 0;
  size_t n = key_length < skip ? key_length : skip;
  for (size_t j = 0; j < n; j++) {
    int d = (int)key[j] - (int)t->keys[j];
    if (d != 0) return d < 0 ? 0 : count;
  }
  if (key_length < skip) return 0;
  size_t rest = key_length - skip;
  uint32_t target_hi = prefix_at(key + skip, rest), target_lo = rest > 4 ? prefix_at(key + skip + 4, rest - 4) : 0;
  uint32_t lo = 0, hi = count;
  while (lo < hi) {
    uint32_t mid = (lo + hi) >> 1;
    uint32_t word_hi = t->words[2 * mid];
    bool before;
    if (word_hi != target_hi) {
      before = word_hi < target_hi;
    } else {
      uint32_t word_lo = t->words[2 * mid + 1];
      before = word_lo != target_lo ? word_lo < target_lo : compare_separator(t, mid, key, key_length, seq) < 0;
    }
    if (before) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** BlockCache.admit: whether this miss of block i admits it (its second while remembered). */
static bool admit(const TableSearch* t, uint32_t i) {
  int32_t hash = (int32_t)((t->file_number * 0x9e3779b1u) ^ ((i + 1) * 0x85ebca77u)) | 1;
  uint32_t slot = (uint32_t)hash >> t->slot_shift;
  if (t->missed[slot] == hash) {
    t->missed[slot] = 0;
    return true;
  }
  t->missed[slot] = hash;
  return false;
}

/** One typed array of `parts`, of type `type`, referenced by the search. */
static void* part(napi_env env, napi_value parts, uint32_t index, napi_typedarray_type type, size_t* length, TableSearch* t) {
  napi_value value;
  if (napi_get_element(env, parts, index, &value) != napi_ok) return NULL;
  void* data = typed_array_data(env, value, type, length);
  if (data == NULL || napi_create_reference(env, value, 1, &t->refs[index]) != napi_ok) return NULL;
  return data;
}

napi_value table_search_js(napi_env env, napi_callback_info info) {
  napi_value argv[3], parts, mapped, result;
  size_t argc = 3;
  const char* usage = "stratadb_io: tableSearch(parts, numbers, out)";
  TableSearch* t = calloc(1, sizeof *t);
  if (t == NULL) {
    napi_throw_error(env, NULL, "stratadb_io: out of memory");
    return NULL;
  }
  size_t words, keys, key_offsets, seqs, offsets, sizes, bloom, cached, missed = 0, numbers_length = 0, out_length = 0;
  bool missed_null = false;
  napi_valuetype missed_type = napi_undefined;
  napi_value missed_value;
  double* numbers = NULL;
  bool ok = napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == 3;
  parts = argv[0];
  ok = ok && (t->words = part(env, parts, PART_WORDS, napi_uint32_array, &words, t)) != NULL;
  ok = ok && (t->keys = part(env, parts, PART_KEYS, napi_uint8_array, &keys, t)) != NULL;
  ok = ok && (t->key_offsets = part(env, parts, PART_KEY_OFFSETS, napi_uint32_array, &key_offsets, t)) != NULL;
  ok = ok && (t->seqs = part(env, parts, PART_SEQS, napi_float64_array, &seqs, t)) != NULL;
  ok = ok && (t->block_offsets = part(env, parts, PART_BLOCK_OFFSETS, napi_float64_array, &offsets, t)) != NULL;
  ok = ok && (t->block_sizes = part(env, parts, PART_BLOCK_SIZES, napi_uint32_array, &sizes, t)) != NULL;
  ok = ok && (t->bloom = part(env, parts, PART_BLOOM, napi_uint8_array, &bloom, t)) != NULL;
  ok = ok && (t->cached = part(env, parts, PART_CACHED, napi_uint8_array, &cached, t)) != NULL;
  ok = ok && napi_get_element(env, parts, PART_MISSED, &missed_value) == napi_ok && napi_typeof(env, missed_value, &missed_type) == napi_ok;
  missed_null = missed_type == napi_null;
  ok = ok && (missed_null || (t->missed = part(env, parts, PART_MISSED, napi_int32_array, &missed, t)) != NULL);
  ok = ok && napi_get_element(env, parts, PART_MAPPED, &mapped) == napi_ok && (t->mapping = mapping_arg(env, mapped)) != NULL &&
       napi_create_reference(env, mapped, 1, &t->refs[PART_MAPPED]) == napi_ok;
  napi_value slots;
  napi_valuetype slots_type = napi_undefined;
  void* slots_data = NULL;
  ok = ok && napi_get_element(env, parts, PART_SLOTS, &slots) == napi_ok && napi_typeof(env, slots, &slots_type) == napi_ok;
  ok = ok && (slots_type == napi_null ||
              (napi_get_value_external(env, slots, &slots_data) == napi_ok && napi_create_reference(env, slots, 1, &t->refs[PART_SLOTS]) == napi_ok));
  t->slots = slots_data;
  ok = ok && (numbers = typed_array_data(env, argv[1], napi_float64_array, &numbers_length)) != NULL && numbers_length == NUMBERS;
  ok = ok && (t->out = typed_array_data(env, argv[2], napi_float64_array, &out_length)) != NULL && out_length >= OUT_ALL &&
       napi_create_reference(env, argv[2], 1, &t->refs[PARTS]) == napi_ok;
  if (ok) {
    t->count = (uint32_t)sizes;
    t->skip = (uint32_t)numbers[NUM_SKIP];
    t->probes = (uint32_t)numbers[NUM_PROBES];
    t->bloom_bits = (uint64_t)bloom * 8;
    t->file_number = (uint32_t)numbers[NUM_FILE];
    t->slot_shift = (uint32_t)numbers[NUM_SLOT_SHIFT];
    t->large_bytes = (int64_t)numbers[NUM_LARGE];
    t->none_code = (uint32_t)numbers[NUM_NONE];
    t->lz4_code = (uint32_t)numbers[NUM_LZ4];
    t->max_contents = (int64_t)numbers[NUM_MAX_CONTENTS];
    t->kinds = (uint32_t)numbers[NUM_KINDS];
    // Every index read below stays inside the arrays: a handle per block, a separator's end per
    // block and one more, the common prefix inside the first separator, a slot per hash.
    ok = words == 2 * (size_t)t->count && seqs == t->count && offsets == t->count && cached == t->count && key_offsets == (size_t)t->count + 1 &&
         t->key_offsets[t->count] <= keys && (t->count == 0 || t->skip <= t->key_offsets[1]) && t->slot_shift >= 1 && t->slot_shift <= 31 &&
         (missed_null || missed >= ((size_t)1 << (32 - t->slot_shift))) && (t->probes == 0 || bloom > 0) &&
         (t->slots == NULL || t->slots->count == t->count) && (t->slots == NULL) == missed_null;
    for (uint32_t i = 0; ok && i < t->count; i++) ok = t->key_offsets[i] <= t->key_offsets[i + 1];
  }
  if (!ok || (t->scratch = scratch_data(env)) == NULL) {
    finalize_search(env, t, NULL);
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  if (napi_create_external(env, t, finalize_search, NULL, &result) != napi_ok) {
    finalize_search(env, t, NULL);
    napi_throw_error(env, NULL, "stratadb_io: could not make the table search's handle");
    return NULL;
  }
  return result;
}

/**
 * tableGet's answer for table t, the block cache's misses and hits added to out's counts;
 * `hash` is bloomHash(key). SEARCH_DAMAGED: *error says what is wrong with data block
 * out[OUT_BLOCK]; SEARCH_FAILED: an exception is pending.
 */
static int search_table(napi_env env, TableSearch* t, const uint8_t* key, size_t key_length, double seq, uint32_t hash, napi_value* error) {
  double* out = t->out;
  int answer = TABLE_ABSENT;
  if (may_contain(t, hash)) {
    // With format.ts's separators the first block tried holds the answer if there is one;
    // moving on keeps the answer right for any separator at or after its block's last entry.
    for (uint32_t i = index_find(t, key, key_length, seq); i < t->count; i++) {
      out[OUT_BLOCK] = i;
      if (t->block_sizes[i] >= t->large_bytes) {
        answer = TABLE_BLOCK;
        break;
      }
      char what[128];
      const char* bad;
      if (t->cached[i] != CACHED_NOT) {
        const Slot* slot = t->slots != NULL ? find_slot(t->slots, i) : NULL;
        if (slot == NULL) {
          answer = TABLE_BLOCK;
          break;
        }
        const uint8_t* contents = slot->data;
        // A hit: the block was checked when it was read. The value is copied to the scratch
        // buffer, so that every TABLE_FOUND answers from there.
        t->cached[i] = CACHED_REFERENCED;
        out[OUT_HITS] += 1;
        int status = -1;
        bad = seek_block_contents(contents, slot->length, key, key_length, seq, t->kinds, out, &status, what, sizeof what);
        if (bad != NULL) {
          out[OUT_CONTENTS_ERROR] = 1;
          return napi_create_string_utf8(env, bad, NAPI_AUTO_LENGTH, error) == napi_ok ? SEARCH_DAMAGED : SEARCH_FAILED;
        }
        if (status == SEEK_FOUND) {
          size_t at = (size_t)out[OUT_VALUE_OFFSET], n = (size_t)out[OUT_VALUE_LENGTH];
          if (n > SCRATCH_BYTES) {
            // Never while the cache holds no large block (TableReader keeps them out); the
            // scratch buffer is not overrun whatever it holds: the reader answers from the block.
            answer = TABLE_BLOCK;
            break;
          }
          memcpy(t->scratch, contents + at, n);
          out[OUT_VALUE_OFFSET] = 0;
          answer = TABLE_FOUND;
          break;
        }
        if (status == SEEK_OTHER_KEY) break;
        continue;
      }
      out[OUT_MISSES] += 1;
      if (t->missed != NULL && admit(t, i)) {
        out[OUT_ADMIT] = 1;
        answer = TABLE_BLOCK;
        break;
      }
      if (t->mapping->base == NULL) {
        napi_throw_error(env, NULL, "stratadb_io: a read of an unmapped file");
        return SEARCH_FAILED;
      }
      MappedBlockRead r = {t->mapping, t->scratch, (int64_t)t->block_offsets[i], t->block_sizes[i], t->none_code, t->lz4_code, t->max_contents};
      int status = seek_mapped(&r, key, key_length, seq, t->kinds, out, &bad, what, sizeof what);
      if (bad != NULL) return napi_create_string_utf8(env, bad, NAPI_AUTO_LENGTH, error) == napi_ok ? SEARCH_DAMAGED : SEARCH_FAILED;
      if (status < 0) {
        answer = TABLE_BLOCK;  // contents larger than the scratch buffer
        out[OUT_MISSES] -= 1;  // the caller's lookup counts this miss
        break;
      }
      if (status == SEEK_FOUND) {
        answer = TABLE_FOUND;
        break;
      }
      if (status == SEEK_OTHER_KEY) break;
    }
  }
  return answer;
}

/** Clears the counts and the admission flag search_table adds to, before a call's first table. */
static void reset_counts(double* out) {
  out[OUT_MISSES] = 0;
  out[OUT_HITS] = 0;
  out[OUT_ADMIT] = 0;
}

/** tableGet's and tablesGet's answer made a JavaScript value: a number, or what is wrong. */
static napi_value answer_value(napi_env env, int answer, napi_value error) {
  napi_value result;
  if (answer == SEARCH_FAILED) return NULL;
  if (answer == SEARCH_DAMAGED) return error;
  if (napi_create_int32(env, answer, &result) != napi_ok) return NULL;
  return result;
}

napi_value table_get_js(napi_env env, napi_callback_info info) {
  napi_value argv[3], error = NULL;
  size_t argc = 3, key_length = 0;
  void* data;
  double seq;
  const uint8_t* key = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 || napi_get_value_external(env, argv[0], &data) != napi_ok ||
      (key = typed_array_data(env, argv[1], napi_uint8_array, &key_length)) == NULL || napi_get_value_double(env, argv[2], &seq) != napi_ok) {
    napi_throw_type_error(env, NULL, "stratadb_io: tableGet(search, key, seq)");
    return NULL;
  }
  TableSearch* t = data;
  reset_counts(t->out);
  uint32_t hash = t->probes == 0 ? 0 : xxh32(key, key_length, BLOOM_SEED);
  return answer_value(env, search_table(env, t, key, key_length, seq, hash, &error), error);
}

// A walk: tables a point read consults one after another (level 0's, newest first, then each
// deeper level's), searched in one call instead of one call each.
typedef struct {
  TableSearch* search;
  size_t smallest_at, smallest_length, largest_at, largest_length;
  double smallest_seq;
  // The end (exclusive) of the run of tables this one is in: a level's files, sorted by key
  // and disjoint, of which a read consults only the one reaching its key; i + 1 for a table of
  // level 0.
  uint32_t run_end;
} WalkTable;

typedef struct {
  uint32_t count;
  WalkTable* tables;
  napi_ref* refs;  // one per search
  uint8_t* bounds;  // the tables' smallest and largest keys, back to back
  double* out;  // every search's
} TableWalk;

static void finalize_walk(napi_env env, void* data, void* hint) {
  (void)hint;
  TableWalk* w = data;
  if (w->refs != NULL) {
    for (uint32_t i = 0; i < w->count; i++) {
      if (w->refs[i] != NULL) napi_delete_reference(env, w->refs[i]);
    }
  }
  free(w->refs);
  free(w->tables);
  free(w->bounds);
  free(w);
}

napi_value table_walk_js(napi_env env, napi_callback_info info) {
  napi_value argv[4], result;
  size_t argc = 4, seqs_length = 0, ends_length = 0;
  uint32_t count = 0, bounds_count = 0;
  bool is_array = false;
  const double* seqs = NULL;
  const uint32_t* ends = NULL;
  TableWalk* w = calloc(1, sizeof *w);
  bool ok = w != NULL && napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == 4 && napi_is_array(env, argv[0], &is_array) == napi_ok &&
            is_array && napi_get_array_length(env, argv[0], &count) == napi_ok && napi_get_array_length(env, argv[1], &bounds_count) == napi_ok &&
            count > 0 && bounds_count == 2 * count && (seqs = typed_array_data(env, argv[2], napi_float64_array, &seqs_length)) != NULL &&
            seqs_length == count && (ends = typed_array_data(env, argv[3], napi_uint32_array, &ends_length)) != NULL && ends_length == count;
  // Each run ends after its tables and no later than the walk: a table's run is the rest of it.
  for (uint32_t i = 0; ok && i < count; i++) ok = ends[i] > i && ends[i] <= count && (i == 0 || ends[i - 1] == i || ends[i - 1] == ends[i]);
  if (ok) {
    w->tables = calloc(count, sizeof *w->tables);
    w->refs = calloc(count, sizeof *w->refs);
    ok = w->tables != NULL && w->refs != NULL;
    if (ok) w->count = count;
  }
  // The bounds: measured, then copied (a walk outlives no table, but owns what it compares).
  size_t total = 0;
  for (uint32_t i = 0; ok && i < 2 * count; i++) {
    napi_value bound;
    size_t length = 0;
    ok = napi_get_element(env, argv[1], i, &bound) == napi_ok && typed_array_data(env, bound, napi_uint8_array, &length) != NULL;
    total += length;
  }
  ok = ok && (w->bounds = malloc(total > 0 ? total : 1)) != NULL;
  size_t at = 0;
  for (uint32_t i = 0; ok && i < count; i++) {
    napi_value search, bound;
    void* data;
    ok = napi_get_element(env, argv[0], i, &search) == napi_ok && napi_get_value_external(env, search, &data) == napi_ok &&
         napi_create_reference(env, search, 1, &w->refs[i]) == napi_ok;
    if (!ok) break;
    WalkTable* table = &w->tables[i];
    table->search = data;
    table->smallest_seq = seqs[i];
    table->run_end = ends[i];
    for (uint32_t end = 0; ok && end < 2; end++) {
      size_t length = 0;
      const uint8_t* bytes;
      ok = napi_get_element(env, argv[1], 2 * i + end, &bound) == napi_ok && (bytes = typed_array_data(env, bound, napi_uint8_array, &length)) != NULL &&
           at + length <= total;
      if (!ok) break;
      memcpy(w->bounds + at, bytes, length);
      if (end == 0) table->smallest_at = at, table->smallest_length = length;
      else table->largest_at = at, table->largest_length = length;
      at += length;
    }
    // One out for the whole walk: tablesGet reports in it.
    if (i == 0) w->out = table->search->out;
    ok = ok && table->search->out == w->out;
  }
  if (!ok) {
    if (w != NULL) finalize_walk(env, w, NULL);
    napi_throw_type_error(env, NULL, "stratadb_io: tableWalk(searches, bounds, seqs, ends) with searches sharing one out, two bounds, a seq and a run's end a search");
    return NULL;
  }
  if (napi_create_external(env, w, finalize_walk, NULL, &result) != napi_ok) {
    finalize_walk(env, w, NULL);
    napi_throw_error(env, NULL, "stratadb_io: could not make the walk's handle");
    return NULL;
  }
  return result;
}

napi_value tables_get_js(napi_env env, napi_callback_info info) {
  napi_value argv[4], error = NULL;
  size_t argc = 4, key_length = 0;
  void* data;
  uint32_t from;
  double seq;
  const uint8_t* key = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 || napi_get_value_external(env, argv[0], &data) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &from) != napi_ok || (key = typed_array_data(env, argv[2], napi_uint8_array, &key_length)) == NULL ||
      napi_get_value_double(env, argv[3], &seq) != napi_ok) {
    napi_throw_type_error(env, NULL, "stratadb_io: tablesGet(walk, from, key, seq)");
    return NULL;
  }
  TableWalk* w = data;
  reset_counts(w->out);
  uint32_t hash = xxh32(key, key_length, BLOOM_SEED);
  int answer = TABLE_ABSENT;
  for (uint32_t i = from, next; i < w->count; i = next) {
    uint32_t at = i;
    next = w->tables[i].run_end;
    if (next > i + 1) {
      // A level's files from i on: the first whose largest key is at or after the key
      // (Version.get's firstFileReaching) is the only one that may hold it.
      uint32_t lo = i, hi = next;
      while (lo < hi) {
        uint32_t mid = (lo + hi) >> 1;
        const WalkTable* m = &w->tables[mid];
        if (compare_bytes(w->bounds + m->largest_at, m->largest_length, key, key_length) < 0) lo = mid + 1;
        else hi = mid;
      }
      if (lo == next) continue;
      at = lo;
    }
    const WalkTable* table = &w->tables[at];
    // Version.get's mayHold: the key in the table's range, and an entry old enough to see.
    if (table->smallest_seq > seq || compare_bytes(key, key_length, w->bounds + table->smallest_at, table->smallest_length) < 0 ||
        compare_bytes(key, key_length, w->bounds + table->largest_at, table->largest_length) > 0)
      continue;
    w->out[OUT_TABLE] = at;
    answer = search_table(env, table->search, key, key_length, seq, hash, &error);
    if (answer != TABLE_ABSENT) break;
  }
  return answer_value(env, answer, error);
}
