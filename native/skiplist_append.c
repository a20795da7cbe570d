// appendToSkipList: the entries of a write batch that go after every entry of a memtable's
// skip list (keys in order: fillseq, a batch of sorted keys, a bulk import), linked in by C,
// many per call. src/memtable/skiplist.ts (SkipList.appendRun) calls it and does everything
// else: an entry that does not go last, the first entry of a list, a node array, arena chunk,
// key index or heights array that is full, a key that does not share the list's leading
// words. The node records, links, key index slots and arena bytes it writes are those
// SkipList.insert writes for the same entry (the same layout, the same key hash, the same
// xorshift heights); test/memtable.test.ts compares the two.
//
// appendToSkipList(nodes, layout, chunk, slots, heights, tails, state, batch) → entries appended
//   nodes    Int32Array  the list's node records (written: the new records, their
//                        predecessors' links, the head's back link)
//   layout   Int32Array  field offsets and sizes, in the order of the L_ enum below
//   chunk    Uint8Array  the arena's current chunk (written after state[S_ARENA_USED])
//   slots    Int32Array  the key index's table: two ints a slot, node and key hash
//   heights  Uint8Array  each entry's height, by entry number (written at state[S_COUNT] on)
//   tails    Int32Array  the last node at each level (written)
//   state    Float64Array  the list's counters and the batch's cursor, in/out (S_ enum below)
//   batch    Uint8Array  encoded batch entries (src/base/batch-format.ts), read from
//                        state[S_AT], state[S_LEFT] of them, the first numbered state[S_SEQ]
// Stops, with state describing where, at the first entry it does not take; throws TypeError
// for arguments of the wrong types or a state that points outside them.

#include "skiplist_append.h"

#include <stdint.h>
#include <string.h>

#include "bytes.h"

enum {
  L_SUFFIX_HI, L_SUFFIX_LO, L_KEY_LENGTH, L_CHUNK, L_OFFSET, L_VALUE_LENGTH, L_PREV, L_KIND, L_SEQ_HI, L_SEQ_LO,
  L_PREFIX_HI, L_PREFIX_LO, L_NEXT, L_LINK_INTS, L_COLD_INTS, L_NODE_FIXED_INTS, L_HEAD, L_MAX_HEIGHT, LAYOUT_FIELDS
};

enum {
  S_AT,              // in/out: offset in batch of the next entry
  S_LEFT,            // in/out: entries left in the batch
  S_SEQ,             // in/out: the next entry's sequence number
  S_NODES_USED,      // in/out
  S_COUNT,           // in/out: entries in the list
  S_HEIGHT,          // in/out: the list's height
  S_RANDOM,          // in/out: the xorshift32 state of the heights (an int32)
  S_ARENA_USED,      // in/out: bytes of chunk handed out
  S_CHUNK_ID,        // in: chunk's id in the arena
  S_INDEX_MASK,      // in: the key index's slots - 1
  S_INDEX_COUNT,     // in/out: keys in the key index
  S_LINK_WORD,       // in: which key words the links carry (c)
  S_COMMON0,         // in: the first word every key shares (meaningful when c > 0)
  S_COMMON1,         // in: the second (c > 1)
  S_LAST_HI,         // in/out: the last node's first two key words
  S_LAST_LO,
  S_MAX_ENTRY_BYTES, // in: a key and value larger than this get a chunk of their own (JavaScript)
  S_KIND_MASK,       // in: bit k set when an entry of kind k goes to the list
  S_DELETE_KIND,     // in: the kind whose entries have no value in a batch
  STATE_FIELDS
};

#define SIGN 0x80000000u

/** Key bytes at..at+3 as big-endian, zero-padded, the sign bit flipped: skiplist.ts keyWord(). */
static int32_t key_word(const uint8_t* key, uint32_t length, uint32_t at) {
  uint32_t v = 0;
  for (uint32_t i = at; i < at + 4; i++) v = (v << 8) | (i < length ? key[i] : 0);
  return (int32_t)(v ^ SIGN);
}

static uint32_t mix(uint32_t h, uint32_t word) {
  uint32_t k = word * 0xcc9e2d51u;
  k = (k << 15) | (k >> 17);
  k *= 0x1b873593u;
  h ^= k;
  h = (h << 13) | (h >> 19);
  return h * 5u + 0xe6546b64u;
}

/** key-index.ts keyHash() of a key's words, length and tailHash(). */
static int32_t key_hash(int32_t w0, int32_t w1, int32_t w2, int32_t w3, uint32_t length, const uint8_t* key) {
  uint32_t tail = 0;
  for (uint32_t i = 16; i < length; i++) tail = (tail ^ key[i]) * 0x01000193u;
  uint32_t h = (length ^ 0x9e3779b9u) * 0x85ebca6bu;
  h = mix(h, (uint32_t)w0);
  h = mix(h, (uint32_t)w1);
  h = mix(h, (uint32_t)w2);
  h = mix(h, (uint32_t)w3);
  h = mix(h, tail);
  h ^= h >> 16;
  h *= 0x7feb352du;
  h ^= h >> 15;
  return (int32_t)h;
}

/** A varint at *p, below end; -1 when it runs past end or past 32 bits. */
static int64_t get_varint(const uint8_t** p, const uint8_t* end) {
  uint64_t v = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    if (*p >= end) return -1;
    const uint8_t b = *(*p)++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (b < 0x80) return v > UINT32_MAX ? -1 : (int64_t)v;
  }
  return -1;
}

/** Entries whose key index slot is prefetched ahead of their insert. */
#define PREFETCH_AHEAD 16

/**
 * Prefetches the key index slot of the entry at *ahead (its first slot: where its probe starts)
 * and steps past it; nothing once the entries (or the bytes) run out.
 */
static void prefetch_slot(const uint8_t** ahead, const uint8_t* end, uint64_t* ahead_left, const int32_t* slots, uint64_t index_mask, int32_t delete_kind) {
  if (*ahead_left == 0) return;
  const uint8_t* q = *ahead;
  if (q >= end) {
    *ahead_left = 0;
    return;
  }
  const int32_t kind = *q++;
  const int64_t key_length = get_varint(&q, end);
  if (key_length < 0 || (uint64_t)(end - q) < (uint64_t)key_length) {
    *ahead_left = 0;
    return;
  }
  const uint8_t* key = q;
  q += key_length;
  if (kind != delete_kind) {
    const int64_t value_length = get_varint(&q, end);
    if (value_length < 0 || (uint64_t)(end - q) < (uint64_t)value_length) {
      *ahead_left = 0;
      return;
    }
    q += value_length;
  }
  const uint32_t kl = (uint32_t)key_length;
  const int32_t hash = key_hash(key_word(key, kl, 0), key_word(key, kl, 4), key_word(key, kl, 8), key_word(key, kl, 12), kl, key);
  __builtin_prefetch(slots + 2 * ((uint32_t)hash & index_mask));
  *ahead = q;
  (*ahead_left)--;
}

napi_value append_to_skip_list_js(napi_env env, napi_callback_info info) {
  static const char usage[] =
      "appendToSkipList(nodes: Int32Array, layout: Int32Array, chunk: Uint8Array, slots: Int32Array, heights: Uint8Array, tails: Int32Array, state: Float64Array, batch: Uint8Array)";
  size_t argc = 8;
  napi_value argv[8];
  NAPI_CALL(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  size_t nodes_length = 0, layout_length = 0, chunk_length = 0, slots_length = 0, heights_length = 0, tails_length = 0, state_length = 0, batch_length = 0;
  int32_t* nodes = argc < 8 ? NULL : typed_array_data(env, argv[0], napi_int32_array, &nodes_length);
  const int32_t* y = argc < 8 ? NULL : typed_array_data(env, argv[1], napi_int32_array, &layout_length);
  uint8_t* chunk = argc < 8 ? NULL : typed_array_data(env, argv[2], napi_uint8_array, &chunk_length);
  int32_t* slots = argc < 8 ? NULL : typed_array_data(env, argv[3], napi_int32_array, &slots_length);
  uint8_t* heights = argc < 8 ? NULL : typed_array_data(env, argv[4], napi_uint8_array, &heights_length);
  int32_t* tails = argc < 8 ? NULL : typed_array_data(env, argv[5], napi_int32_array, &tails_length);
  double* state = argc < 8 ? NULL : typed_array_data(env, argv[6], napi_float64_array, &state_length);
  const uint8_t* batch = argc < 8 ? NULL : typed_array_data(env, argv[7], napi_uint8_array, &batch_length);
  if (nodes == NULL || y == NULL || chunk == NULL || slots == NULL || heights == NULL || tails == NULL || state == NULL || batch == NULL ||
      layout_length != LAYOUT_FIELDS || state_length != STATE_FIELDS) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  const int64_t head = y[L_HEAD], link_ints = y[L_LINK_INTS], cold = y[L_COLD_INTS], fixed = y[L_NODE_FIXED_INTS];
  const uint32_t max_height = (uint32_t)y[L_MAX_HEIGHT];
  const uint64_t index_mask = (uint64_t)state[S_INDEX_MASK];
  const int c = (int)state[S_LINK_WORD];
  if (max_height == 0 || max_height > tails_length || head < cold || (size_t)(head + y[L_NEXT] + (int64_t)max_height * link_ints) > nodes_length ||
      2 * (index_mask + 1) > slots_length || ((index_mask + 1) & index_mask) != 0 || c < 0 || c > 2 || state[S_AT] < 0 || state[S_AT] > (double)batch_length ||
      state[S_ARENA_USED] < 0 || state[S_ARENA_USED] > (double)chunk_length || state[S_NODES_USED] > (double)nodes_length || state[S_COUNT] < 1 ||
      state[S_HEIGHT] < 1 || state[S_HEIGHT] > (double)max_height) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  for (uint32_t level = 0; level < max_height; level++) {
    if (tails[level] < head || (size_t)(tails[level] + y[L_NEXT] + (int64_t)(level + 1) * link_ints) > nodes_length) {
      napi_throw_type_error(env, NULL, usage);
      return NULL;
    }
  }

  const uint8_t* p = batch + (size_t)state[S_AT];
  const uint8_t* const end = batch + batch_length;
  uint64_t left = (uint64_t)state[S_LEFT], seq = (uint64_t)state[S_SEQ];
  uint64_t nodes_used = (uint64_t)state[S_NODES_USED], count = (uint64_t)state[S_COUNT], index_count = (uint64_t)state[S_INDEX_COUNT];
  uint32_t height = (uint32_t)state[S_HEIGHT], random = (uint32_t)(int32_t)state[S_RANDOM];
  uint64_t arena_used = (uint64_t)state[S_ARENA_USED];
  const int32_t chunk_id = (int32_t)state[S_CHUNK_ID], common0 = (int32_t)state[S_COMMON0], common1 = (int32_t)state[S_COMMON1];
  int32_t last_hi = (int32_t)state[S_LAST_HI], last_lo = (int32_t)state[S_LAST_LO];
  const uint64_t max_entry = (uint64_t)state[S_MAX_ENTRY_BYTES];
  const uint32_t kind_mask = (uint32_t)state[S_KIND_MASK];
  const int32_t delete_kind = (int32_t)state[S_DELETE_KIND];
  uint32_t appended = 0;

  // The key index's slots of the entries ahead, prefetched PREFETCH_AHEAD entries before their
  // insert: each is a cache miss in a table of megabytes, and a key in order hashes anywhere.
  const uint8_t* ahead = p;
  uint64_t ahead_left = left;
  for (int i = 0; i < PREFETCH_AHEAD; i++) prefetch_slot(&ahead, end, &ahead_left, slots, index_mask, delete_kind);

  for (; left > 0; left--, appended++) {
    prefetch_slot(&ahead, end, &ahead_left, slots, index_mask, delete_kind);
    const uint8_t* q = p;
    if (q >= end) break;
    const int32_t kind = *q++;
    if (kind > 31 || ((kind_mask >> kind) & 1) == 0) break;
    const int64_t key_length = get_varint(&q, end);
    if (key_length < 0 || (uint64_t)(end - q) < (uint64_t)key_length) break;
    const uint8_t* key = q;
    q += key_length;
    int64_t value_length = 0;
    if (kind != delete_kind) {
      value_length = get_varint(&q, end);
      if (value_length < 0 || (uint64_t)(end - q) < (uint64_t)value_length) break;
    }
    const uint8_t* value = q;
    q += value_length;
    const uint64_t bytes = (uint64_t)key_length + (uint64_t)value_length;
    if (bytes > max_entry || arena_used + bytes > chunk_length) break;
    const uint32_t kl = (uint32_t)key_length;
    const int32_t hi = key_word(key, kl, 0), lo = key_word(key, kl, 4), suffix_hi = key_word(key, kl, 8), suffix_lo = key_word(key, kl, 12);
    // A key that does not share the list's leading words changes what the links carry (insert()).
    if ((c > 0 && hi != common0) || (c > 1 && lo != common1)) break;
    // Only a key after the last user key: its versions are not in the list, and it goes last.
    const int64_t last = tails[0];
    if (last == head) break;
    int order = hi != last_hi ? (hi > last_hi ? 1 : -1) : lo != last_lo ? (lo > last_lo ? 1 : -1) : 0;
    if (order == 0) {
      const int32_t last_suffix_hi = nodes[last + y[L_SUFFIX_HI]], last_suffix_lo = nodes[last + y[L_SUFFIX_LO]];
      order = suffix_hi != last_suffix_hi ? (suffix_hi > last_suffix_hi ? 1 : -1) : suffix_lo != last_suffix_lo ? (suffix_lo > last_suffix_lo ? 1 : -1) : 0;
    }
    if (order == 0) {
      // Words 0..3 tie: bytes 16 on, then the length (a key is a prefix of any longer one it ties with).
      const uint32_t last_length = (uint32_t)nodes[last + y[L_KEY_LENGTH]];
      if (kl > 16 && last_length > 16) {
        if (nodes[last + y[L_CHUNK]] != chunk_id) break;
        const uint64_t last_offset = (uint32_t)nodes[last + y[L_OFFSET]];
        if (last_offset + last_length > chunk_length) break;
        const uint32_t n = (kl < last_length ? kl : last_length) - 16;
        const int cmp = memcmp(key + 16, chunk + last_offset + 16, n);
        order = cmp != 0 ? (cmp > 0 ? 1 : -1) : 0;
      }
      if (order == 0) order = kl > last_length ? 1 : kl < last_length ? -1 : 0;
    }
    if (order <= 0) break;
    if (index_count * 2 >= index_mask + 1) break;
    if (count >= heights_length) break;
    // The height, as SkipList's #randomHeight() draws it; kept only if the entry goes in.
    uint32_t s = random;
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    const uint32_t next_random = s;
    uint32_t h = 1;
    while (h < max_height && (s & 3) == 0) {
      h++;
      s >>= 2;
    }
    const uint64_t size = (uint64_t)fixed + (uint64_t)h * (uint64_t)link_ints;
    if (nodes_used + size > nodes_length) break;

    random = next_random;
    if (h > height) height = h;
    const uint64_t offset = arena_used;
    memcpy(chunk + offset, key, kl);
    memcpy(chunk + offset + kl, value, (size_t)value_length);
    arena_used += bytes;
    heights[count++] = (uint8_t)h;
    const int64_t n = (int64_t)nodes_used + cold;
    nodes_used += size;
    nodes[n + y[L_PREFIX_HI]] = hi;
    nodes[n + y[L_PREFIX_LO]] = lo;
    nodes[n + y[L_SUFFIX_HI]] = suffix_hi;
    nodes[n + y[L_SUFFIX_LO]] = suffix_lo;
    nodes[n + y[L_KEY_LENGTH]] = (int32_t)kl;
    nodes[n + y[L_CHUNK]] = chunk_id;
    nodes[n + y[L_OFFSET]] = (int32_t)offset;
    nodes[n + y[L_VALUE_LENGTH]] = (int32_t)value_length;
    nodes[n + y[L_PREV]] = (int32_t)last;
    nodes[n + y[L_KIND]] = kind;
    nodes[n + y[L_SEQ_HI]] = (int32_t)(seq >> 32);
    nodes[n + y[L_SEQ_LO]] = (int32_t)(uint32_t)seq;
    const int32_t w1 = c == 0 ? hi : c == 1 ? lo : suffix_hi;
    const int32_t w2 = c == 0 ? lo : c == 1 ? suffix_hi : suffix_lo;
    for (uint32_t level = 0; level < h; level++) {
      const int64_t link = n + y[L_NEXT] + (int64_t)level * link_ints;
      const int64_t pred_link = (int64_t)tails[level] + y[L_NEXT] + (int64_t)level * link_ints;
      nodes[link] = nodes[pred_link];
      nodes[link + 1] = nodes[pred_link + 1];
      nodes[link + 2] = nodes[pred_link + 2];
      nodes[pred_link] = (int32_t)n;
      nodes[pred_link + 1] = w1;
      nodes[pred_link + 2] = w2;
      tails[level] = (int32_t)n;
    }
    nodes[head + y[L_PREV]] = (int32_t)n;
    last_hi = hi;
    last_lo = lo;
    // Its slot in the key index: the key is new to the list, so the first empty one.
    const int32_t hash = key_hash(hi, lo, suffix_hi, suffix_lo, kl, key);
    uint64_t slot = (uint32_t)hash & index_mask;
    while (slots[2 * slot] != 0) slot = (slot + 1) & index_mask;
    slots[2 * slot] = (int32_t)n;
    slots[2 * slot + 1] = hash;
    index_count++;
    seq++;
    p = q;
  }

  state[S_AT] = (double)(p - batch);
  state[S_LEFT] = (double)left;
  state[S_SEQ] = (double)seq;
  state[S_NODES_USED] = (double)nodes_used;
  state[S_COUNT] = (double)count;
  state[S_HEIGHT] = (double)height;
  state[S_RANDOM] = (double)(int32_t)random;
  state[S_ARENA_USED] = (double)arena_used;
  state[S_INDEX_COUNT] = (double)index_count;
  state[S_LAST_HI] = (double)last_hi;
  state[S_LAST_LO] = (double)last_lo;
  napi_value result;
  NAPI_CALL(napi_create_uint32(env, appended, &result));
  return result;
}
