// searchSkipList: where each of a group of keys goes in a memtable's skip list, many searches
// at once, for SkipList.searchHinted (src/memtable/skiplist.ts, which owns the node layout).
//
// A search down a skip list of a few hundred thousand entries is bound by cache misses: each
// step right reads a node record somewhere else in memory (about 23 steps a search at 340k
// entries, the lower levels' nodes not cached), and in JavaScript each miss waits for the one
// before it. Here up to LANES searches advance in turn: a search that steps right prefetches
// the record it moves to and hands over to the next, so the misses of different searches
// overlap instead of adding up.
//
// searchSkipList(nodes, layout, keys, count, height, preds, slots, more, moreCount) → 0 | -1
//   nodes   the list's Int32Array of node records (read only).
//   layout  Int32Array, skiplist.ts's numbers (SEARCH_LAYOUT there): the offsets of the
//           level-0 link, of a link's two key words, of the suffix words, key length and
//           sequence number in a record, the ints a link takes, the head's name, and the
//           stride of `preds` (the list's maximum height).
//   keys    Int32Array, KEY_INTS a key: the two key words the links carry, the suffix words
//           (key bytes 8..15), the key length, the sequence number's high and low words, and
//           where the key's probe of the memtable's key index starts in `slots`.
//   count   how many keys.
//   height  the list's height: levels 0..height-1 are searched.
//   preds   Int32Array, stride a key: preds[k * stride + level] is a node before key k (in
//           internal order: user key, then sequence number descending) at that level, or the
//           head. It is the last such node, except after a tie that the words cannot settle
//           (two keys longer than 16 bytes that agree on their first 16): the search then stops
//           moving right at that level, and the caller walks on from there.
//   slots   the key index's table (src/memtable/key-index.ts): each key's first slot is
//           prefetched before the searches start, so that the inserts' probes find it cached
//           (a slot outside the table is not prefetched); so are the first `moreCount` slots
//           listed in `more` (Int32Array), those of the group's keys that need no search.
//   Returns -1, having written only some preds, when a link leads outside `nodes`.

#include <node_api.h>
#include <stdint.h>

#include "bytes.h"

// The layout array, in this order (skiplist.ts, SEARCH_LAYOUT).
enum { Y_NEXT, Y_LINK_INTS, Y_WORD1, Y_SUFFIX_HI, Y_SUFFIX_LO, Y_KEY_LENGTH, Y_SEQ_HI, Y_SEQ_LO, Y_HEAD, Y_STRIDE, LAYOUT_FIELDS };
// A key's ints, in this order.
enum { K_WORD1, K_WORD2, K_SUFFIX_HI, K_SUFFIX_LO, K_LENGTH, K_SEQ_HI, K_SEQ_LO, K_SLOT, KEY_INTS };

#define LANES 16

typedef struct {
  int32_t key;
  int32_t x;
  int32_t level;
  int32_t not_before;
} Lane;

typedef struct {
  const int32_t* nodes;
  size_t length;
  int32_t y[LAYOUT_FIELDS];
} List;

static inline int in_list(const List* l, int64_t at) {
  return at >= 0 && (uint64_t)at < l->length;
}

// Whether key k sorts after node `next`, reached through `link`: 1 after, 0 not after or a
// tie the words cannot settle, -1 a field outside the list.
static inline int sorts_after(const List* l, const int32_t* k, int32_t link, int32_t next) {
  const int32_t* nodes = l->nodes;
  const int32_t* y = l->y;
  int32_t a = nodes[link + y[Y_WORD1]];
  if (k[K_WORD1] != a) return k[K_WORD1] > a;
  int32_t b = nodes[link + y[Y_WORD1] + 1];
  if (k[K_WORD2] != b) return k[K_WORD2] > b;
  if (!in_list(l, (int64_t)next + y[Y_SUFFIX_HI]) || !in_list(l, (int64_t)next + y[Y_SEQ_LO])) return -1;
  int32_t sh = nodes[next + y[Y_SUFFIX_HI]];
  if (k[K_SUFFIX_HI] != sh) return k[K_SUFFIX_HI] > sh;
  int32_t sl = nodes[next + y[Y_SUFFIX_LO]];
  if (k[K_SUFFIX_LO] != sl) return k[K_SUFFIX_LO] > sl;
  int32_t key_length = k[K_LENGTH];
  int32_t node_length = nodes[next + y[Y_KEY_LENGTH]];
  if (key_length > 16 && node_length > 16) return 0;
  if (key_length != node_length) return key_length > node_length;
  uint64_t key_seq = ((uint64_t)(uint32_t)k[K_SEQ_HI] << 32) | (uint32_t)k[K_SEQ_LO];
  uint64_t node_seq = ((uint64_t)(uint32_t)nodes[next + y[Y_SEQ_HI]] << 32) | (uint32_t)nodes[next + y[Y_SEQ_LO]];
  return key_seq < node_seq;
}

static inline int32_t link_of(const List* l, int32_t x, int32_t level) {
  return x + l->y[Y_NEXT] + level * l->y[Y_LINK_INTS];
}

// Runs lane `s` until it steps right (prefetching where it went: returns 1), finishes its key
// (returns 0) or meets a link outside the list (returns -1).
static inline int advance(const List* l, Lane* s, const int32_t* keys, int32_t* preds) {
  const int32_t* k = keys + (size_t)s->key * KEY_INTS;
  int32_t* out = preds + (size_t)s->key * l->y[Y_STRIDE];
  const int32_t head = l->y[Y_HEAD];
  for (;;) {
    int32_t link = link_of(l, s->x, s->level);
    if (!in_list(l, (int64_t)link + 2)) return -1;
    int32_t next = l->nodes[link];
    if (next != head && next != s->not_before) {
      int after = sorts_after(l, k, link, next);
      if (after < 0) return -1;
      if (after) {
        s->x = next;
        int32_t at = link_of(l, next, s->level);
        if (!in_list(l, (int64_t)at + 2)) return -1;
        __builtin_prefetch(l->nodes + at);
        return 1;
      }
    }
    out[s->level] = s->x;
    if (s->level == 0) return 0;
    s->not_before = next;
    s->level--;
  }
}

napi_value search_skip_list_js(napi_env env, napi_callback_info info) {
  static const char usage[] = "searchSkipList(nodes: Int32Array, layout: Int32Array, keys: Int32Array, count, height, preds: Int32Array, slots: Int32Array, more: Int32Array, moreCount)";
  size_t argc = 9;
  napi_value argv[9];
  NAPI_CALL(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  size_t layout_length = 0, keys_length = 0, preds_length = 0, slots_length = 0, more_length = 0;
  uint32_t count = 0, height = 0, more_count = 0;
  List l;
  l.length = 0;
  l.nodes = argc < 9 ? NULL : typed_array_data(env, argv[0], napi_int32_array, &l.length);
  const int32_t* layout = argc < 9 ? NULL : typed_array_data(env, argv[1], napi_int32_array, &layout_length);
  const int32_t* keys = argc < 9 ? NULL : typed_array_data(env, argv[2], napi_int32_array, &keys_length);
  int32_t* preds = argc < 9 ? NULL : typed_array_data(env, argv[5], napi_int32_array, &preds_length);
  const int32_t* slots = argc < 9 ? NULL : typed_array_data(env, argv[6], napi_int32_array, &slots_length);
  const int32_t* more = argc < 9 ? NULL : typed_array_data(env, argv[7], napi_int32_array, &more_length);
  if (l.nodes == NULL || layout == NULL || keys == NULL || preds == NULL || slots == NULL || more == NULL || layout_length < LAYOUT_FIELDS ||
      napi_get_value_uint32(env, argv[8], &more_count) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &count) != napi_ok || napi_get_value_uint32(env, argv[4], &height) != napi_ok) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  for (int i = 0; i < LAYOUT_FIELDS; i++) l.y[i] = layout[i];
  if (l.y[Y_STRIDE] <= 0 || height == 0 || height > (uint32_t)l.y[Y_STRIDE] || (size_t)count * KEY_INTS > keys_length ||
      (size_t)count * (size_t)l.y[Y_STRIDE] > preds_length || more_count > more_length || !in_list(&l, l.y[Y_HEAD])) {
    napi_throw_range_error(env, NULL, usage);
    return NULL;
  }
  for (uint32_t k = 0; k < count; k++) {
    int32_t slot = keys[(size_t)k * KEY_INTS + K_SLOT];
    if (slot >= 0 && (size_t)slot < slots_length) __builtin_prefetch(slots + slot);
  }
  for (uint32_t k = 0; k < more_count; k++) {
    int32_t slot = more[k];
    if (slot >= 0 && (size_t)slot < slots_length) __builtin_prefetch(slots + slot);
  }
  Lane lanes[LANES];
  int active = 0;
  uint32_t started = 0;
  for (; active < LANES && started < count; active++, started++) {
    lanes[active] = (Lane){ .key = (int32_t)started, .x = l.y[Y_HEAD], .level = (int32_t)height - 1, .not_before = l.y[Y_HEAD] };
  }
  int status = 0;
  while (active > 0 && status == 0) {
    for (int i = 0; i < active;) {
      int r = advance(&l, &lanes[i], keys, preds);
      if (r < 0) {
        status = -1;
        break;
      }
      if (r == 0) {
        // Done: the lane takes the next key, or the last lane moves into its place.
        if (started < count) {
          lanes[i] = (Lane){ .key = (int32_t)started++, .x = l.y[Y_HEAD], .level = (int32_t)height - 1, .not_before = l.y[Y_HEAD] };
        } else {
          lanes[i] = lanes[--active];
          continue;
        }
      }
      i++;
    }
  }
  napi_value result;
  NAPI_CALL(napi_create_int32(env, status, &result));
  return result;
}
