// A compaction's merge in C, for the common case (src/compaction/native-merge.ts says when):
// the input tables' data blocks read from their mappings, checked and decoded, their entries
// merged in internal order, and the versions the compaction keeps queued for
// encodeSkipListBlock (skiplist_blocks.c), which encodes the output's data blocks from the
// queue as TableBuilder.add would. The rules are compactTables's (src/compaction/job.ts) for
// inputs of point entries only (no merge operands, no range tombstones):
//   1. within a stripe of the snapshots, only the newest version of a user key is kept;
//   2. a Delete that is its key's newest version in stripe 0 goes when no range of the levels
//      below (`deeper`) holds its key;
// and the ttl filter, the one compaction filter it runs: a PutWithExpiry whose expiry is at or
// before the job's clock is, before the rules, a Delete of its key.
// An entry of another kind (a Merge operand), or an expiry above 2^53 - 1, stops the merge with
// MERGE_UNCOMMON: the caller runs the compaction in TypeScript instead. Running out of memory
// throws an Error.
//
// mergeView(inputs, snapshots, deeper, bounds, settings) → view (an external)
//   inputs: an array of [mapped, handles] a table, newest first: `mapped` a mapFile handle,
//     `handles` a Float64Array of (offset, size) pairs, the data blocks to read in order.
//   snapshots: Float64Array, ascending (compactTables's job.snapshots).
//   deeper: [keys: Uint8Array, ends: Uint32Array]: disjoint ascending ranges [lo, hi], both
//     included, range i's lo at keys[ends[2i - 1] .. ends[2i]) (0 for i = 0) and hi at
//     keys[ends[2i] .. ends[2i + 1]).
//   bounds: [start, end]: Uint8Arrays or null; only user keys in [start, end) are merged.
//   settings: Float64Array, the M_SET_* fields below.
//   Holds references to everything it reads; reads nothing until mergeFill.
//
// mergeFill(view, state, headKey) → status | string
//   Drops the first state[M_CONSUMED] entries of the queue (encoded since the last call), then
//   merges until the queue's entries would encode to at least state[M_FILL_BYTES] bytes (each
//   counted as its value and 12 bytes: no encoding is smaller) or the inputs end. Then the
//   queue's first entry's key is copied into headKey (state[M_HEAD_KEY_LENGTH] its length), and
//   the counters are in state. Status: MERGE_FILLED, MERGE_END (every input is used up or past
//   `end`: the queue holds the rest), MERGE_HEAD_KEY (headKey is too small for
//   state[M_HEAD_KEY_LENGTH] bytes: call again with a larger one and M_CONSUMED 0),
//   MERGE_UNCOMMON; a string says what is wrong with input state[M_FAILED_INPUT]'s block at
//   state[M_FAILED_OFFSET] (the caller makes it a CORRUPTION naming the file), in the words
//   of the TypeScript readers (physical-block.ts, block-format.ts, block-iter.ts).

#define _GNU_SOURCE
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block_read.h"
#include "bytes.h"
#include "compaction_merge.h"
#include "skiplist_blocks.h"

// settings (native-merge.ts mirrors them)
// settings (native-merge.ts mirrors them): the block checks of src/sstable/physical-block.ts's
// BLOCK_CHECKS (compression codes, the largest contents, the valid kinds' bits), the Delete
// kind, the kinds this merge keeps as they are (bits), and every how many bytes of an input
// its mapping's pages read so far leave the resident set (TableReader.scanner's), the
// PutWithExpiry kind, and the ttl filter's clock (src/compaction/filters.ts; -1 for no filter).
enum {
  M_SET_NONE_CODE,
  M_SET_LZ4_CODE,
  M_SET_MAX_CONTENTS,
  M_SET_VALID_KINDS,
  M_SET_DELETE_KIND,
  M_SET_KEPT_KINDS,
  M_SET_RELEASE_BYTES,
  M_SET_EXPIRY_KIND,
  M_SET_NOW_MS,
  M_SET_FIELDS
};
// state (native-merge.ts mirrors them)
enum {
  M_CONSUMED,          // in
  M_FILL_BYTES,        // in
  M_COUNT,             // out: entries in the queue
  M_HEAD_KEY_LENGTH,   // out
  M_ENTRIES_IN,        // out: entries merged so far (in [start, end))
  M_ENTRIES_OUT,       // out: entries queued so far
  M_DROPPED_VERSIONS,  // out (rule 1)
  M_DROPPED_TOMBSTONES, // out (rule 2)
  M_EXPIRED,           // out: versions the ttl filter made Deletes
  M_FAILED_INPUT,      // out, with a string
  M_FAILED_OFFSET,     // out, with a string
  M_STATE_FIELDS
};
enum { MERGE_FILLED, MERGE_END, MERGE_HEAD_KEY, MERGE_UNCOMMON };

#define ENTRY_TRAILER_BYTES 9
#define RESTART_BYTES 4

typedef struct {
  Mapping* mapping;
  const double* handles;
  size_t blocks, next_block;
  int64_t block_offset;  // the block being read, for messages
  uint8_t* data;         // its contents
  size_t capacity, entries_end, pos;
  size_t resident_from;
  // The current entry.
  int valid;
  uint8_t* key;
  size_t key_capacity, key_length;
  const uint8_t* value;  // into data
  uint32_t value_length, seq_lo, seq_hi;
  int kind;
  double seq;
} Cursor;

typedef struct {
  SkipListView queue_view;  // first: encodeSkipListBlock takes this view as a SkipListView
  napi_ref refs[5];
  Cursor* cursors;
  size_t cursor_count;
  size_t* heap;
  size_t heap_size;
  int started, ended;
  const double* snapshots;
  size_t snapshot_count;
  const uint8_t* deeper_keys;
  const uint32_t* deeper_ends;
  size_t deeper_count, deeper_at;
  const uint8_t *start, *end;
  size_t start_length, end_length;
  double settings[M_SET_FIELDS];
  // The merge's user key: its bytes, and the stripe of its last version seen (-1 none).
  uint8_t* last_key;
  size_t last_key_capacity, last_key_length;
  int has_last_key, last_stripe;
  // The queue (SkipListView's queue fields point into these).
  uint8_t* queue;
  size_t queue_capacity, queue_length;
  size_t* offsets;
  size_t offsets_capacity, count, first;  // entries first..count are the queue's; those before, consumed
  double bound;  // what the queued entries encode to at least
  double entries_in, entries_out, dropped_versions, dropped_tombstones, expired;
  char what[160];
  int out_of_memory;
} MergeView;

static void finalize_merge(napi_env env, void* data, void* hint) {
  (void)hint;
  MergeView* v = data;
  for (size_t i = 0; i < sizeof v->refs / sizeof v->refs[0]; i++)
    if (v->refs[i] != NULL) napi_delete_reference(env, v->refs[i]);
  for (size_t i = 0; i < v->cursor_count; i++) {
    free(v->cursors[i].data);
    free(v->cursors[i].key);
  }
  free(v->cursors);
  free(v->heap);
  free(v->last_key);
  free(v->queue);
  free(v->offsets);
  free(v);
}

static int grow(uint8_t** p, size_t* capacity, size_t need) {
  if (need <= *capacity) return 1;
  size_t n = *capacity * 2 > need ? *capacity * 2 : need;
  if (n < 64) n = 64;
  uint8_t* q = realloc(*p, n);
  if (q == NULL) return 0;
  *p = q;
  *capacity = n;
  return 1;
}

/** Internal order of two cursors' entries: user key ascending, seq descending, then input order. */
static int before(const MergeView* v, size_t a, size_t b) {
  const Cursor* x = &v->cursors[a];
  const Cursor* y = &v->cursors[b];
  int c = compare_bytes(x->key, x->key_length, y->key, y->key_length);
  if (c != 0) return c < 0;
  if (x->seq != y->seq) return x->seq > y->seq;
  return a < b;
}

static void sift_down(MergeView* v, size_t i) {
  size_t* h = v->heap;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < v->heap_size && before(v, h[l], h[m])) m = l;
    if (r < v->heap_size && before(v, h[r], h[m])) m = r;
    if (m == i) return;
    size_t t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

/** Sets v->what to `text` about input `input`'s current block (and `entry`'s byte, when not -1); returns v->what. */
static const char* fail(MergeView* v, const char* text, int64_t entry) {
  if (entry >= 0)
    snprintf(v->what, sizeof v->what, "%s (entry at byte %lld of the block)", text, (long long)entry);
  else if (text != v->what)
    snprintf(v->what, sizeof v->what, "%s", text);
  return v->what;
}

/** Notes that memory ran out (mergeFill throws an Error, not a damaged input's string); returns v->what. */
static const char* out_of_memory(MergeView* v) {
  v->out_of_memory = 1;
  return fail(v, "out of memory", -1);
}

/** Reads the cursor's next block (the Block constructor's checks of it): NULL, or what is wrong. */
static const char* load_block(MergeView* v, Cursor* c) {
  const int64_t offset = (int64_t)c->handles[2 * c->next_block];
  const int64_t size = (int64_t)c->handles[2 * c->next_block + 1];
  c->next_block++;
  c->block_offset = offset;
  const size_t release = (size_t)v->settings[M_SET_RELEASE_BYTES];
  if (offset > 0 && (size_t)offset - c->resident_from >= release) {
    release_mapped_below(c->mapping, (size_t)offset);
    c->resident_from = (size_t)offset;
  }
  size_t length = 0;
  char frame_what[96];
  const char* bad = mapped_block_into(c->mapping, offset, size, (uint32_t)v->settings[M_SET_NONE_CODE], (uint32_t)v->settings[M_SET_LZ4_CODE],
                                      (int64_t)v->settings[M_SET_MAX_CONTENTS], &c->data, &c->capacity, &length, frame_what, sizeof frame_what);
  if (bad == BLOCK_OUT_OF_MEMORY) return out_of_memory(v);
  if (bad != NULL) {
    snprintf(v->what, sizeof v->what, "data block %s", bad);
    return v->what;
  }
  const uint8_t* d = c->data;
  if (length < RESTART_BYTES + 1) {
    snprintf(v->what, sizeof v->what, "block of %zu bytes is too short", length);
    return v->what;
  }
  const uint32_t restarts = rd32(d + length - RESTART_BYTES);
  const int64_t entries_end = (int64_t)length - RESTART_BYTES - (int64_t)restarts * RESTART_BYTES;
  if (restarts == 0 || entries_end <= 0) {
    snprintf(v->what, sizeof v->what, "block declares %u restart points", restarts);
    return v->what;
  }
  int64_t previous = -1;
  for (uint32_t i = 0; i < restarts; i++) {
    const int64_t r = rd32(d + entries_end + (int64_t)i * RESTART_BYTES);
    if (r <= previous || r >= entries_end || (i == 0 && r != 0)) {
      snprintf(v->what, sizeof v->what, "restart point %u (%lld) is out of order or outside the block's entries", i, (long long)r);
      return v->what;
    }
    previous = r;
  }
  c->entries_end = (size_t)entries_end;
  c->pos = 0;
  c->key_length = 0;
  return NULL;
}

/** Moves the cursor to its next entry (c->valid 0 past its last): NULL, or what is wrong. */
static const char* advance(MergeView* v, Cursor* c) {
  if (c->pos >= c->entries_end) {
    if (c->next_block == c->blocks) {
      c->valid = 0;
      return NULL;
    }
    const char* bad = load_block(v, c);
    if (bad != NULL) return bad;
  }
  const uint8_t* d = c->data;
  const size_t end = c->entries_end, p = c->pos;
  size_t q;
  const int64_t shared = block_varint(d, p, end, &q);
  const int64_t unshared = shared < 0 ? -1 : block_varint(d, q, end, &q);
  const int64_t value_length = unshared < 0 ? -1 : block_varint(d, q, end, &q);
  if (value_length < 0 || (size_t)shared > c->key_length) return fail(v, "malformed entry header", (int64_t)p);
  const size_t value_offset = q + (size_t)unshared + ENTRY_TRAILER_BYTES;
  if (value_offset + (size_t)value_length > end) return fail(v, "entry runs past the end of the block", (int64_t)p);
  const size_t key_length = (size_t)shared + (size_t)unshared;
  if (!grow(&c->key, &c->key_capacity, key_length)) return out_of_memory(v);
  memcpy(c->key + shared, d + q, (size_t)unshared);
  const uint8_t* s = d + q + unshared;
  const uint32_t lo = rd32(s), hi = rd32(s + 4);
  const int kind = s[8];
  if (hi > 0x1fffff || kind > 31 || (((uint32_t)v->settings[M_SET_VALID_KINDS] >> kind) & 1) == 0)
    return fail(v, "entry has a bad sequence number or kind", (int64_t)p);
  c->key_length = key_length;
  c->seq_lo = lo;
  c->seq_hi = hi;
  c->seq = (double)hi * 4294967296.0 + (double)lo;
  c->kind = kind;
  c->value = d + value_offset;
  c->value_length = (uint32_t)value_length;
  c->pos = value_offset + (size_t)value_length;
  c->valid = 1;
  return NULL;
}

/** compactTables's stripeOf: the index of the first snapshot >= seq. */
static size_t stripe_of(const MergeView* v, double seq) {
  size_t lo = 0, hi = v->snapshot_count;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (v->snapshots[mid] < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Whether a deeper range holds `key`. REQUIRES: keys non-decreasing from call to call. */
static int deeper_contains(MergeView* v, const uint8_t* key, size_t length) {
  const uint8_t* k = v->deeper_keys;
  const uint32_t* e = v->deeper_ends;
  while (v->deeper_at < v->deeper_count) {
    size_t i = v->deeper_at;
    if (compare_bytes(k + e[2 * i], e[2 * i + 1] - e[2 * i], key, length) >= 0) break;
    v->deeper_at++;
  }
  if (v->deeper_at == v->deeper_count) return 0;
  size_t i = v->deeper_at, lo = i == 0 ? 0 : e[2 * i - 1];
  return compare_bytes(k + lo, e[2 * i] - lo, key, length) <= 0;
}

/** Queues the cursor's entry as one of `kind` (its value dropped when `value_length` is 0); 0 when out of memory. */
static int enqueue(MergeView* v, const Cursor* c, int kind, uint32_t value_length) {
  const size_t bytes = QUEUE_HEADER_BYTES + c->key_length + value_length;
  if (!grow(&v->queue, &v->queue_capacity, v->queue_length + bytes)) return 0;
  if (v->count == v->offsets_capacity) {
    size_t n = v->offsets_capacity < 64 ? 64 : v->offsets_capacity * 2;
    size_t* o = realloc(v->offsets, n * sizeof *o);
    if (o == NULL) return 0;
    v->offsets = o;
    v->offsets_capacity = n;
  }
  uint8_t* h = v->queue + v->queue_length;
  put_u32(h + QUEUE_KEY_LENGTH, (uint32_t)c->key_length);
  put_u32(h + QUEUE_VALUE_LENGTH, value_length);
  put_u32(h + QUEUE_SEQ_LO, c->seq_lo);
  put_u32(h + QUEUE_SEQ_HI, c->seq_hi);
  h[QUEUE_KIND] = (uint8_t)kind;
  memcpy(h + QUEUE_HEADER_BYTES, c->key, c->key_length);
  memcpy(h + QUEUE_HEADER_BYTES + c->key_length, c->value, value_length);
  v->offsets[v->count++] = v->queue_length;
  v->queue_length += bytes;
  v->bound += (double)value_length + 12;
  return 1;
}

/**
 * Drops the queue's first `n` entries. Their bytes are reclaimed once COMPACT_BYTES of them
 * lie before the first entry left, by moving the rest down (moving them at every call moved
 * each byte about once more).
 */
#define COMPACT_BYTES ((size_t)64 * 1024)
static void consume(MergeView* v, size_t n) {
  const size_t left = v->count - v->first;
  if (n > left) n = left;
  for (size_t i = v->first; i < v->first + n; i++) v->bound -= (double)rd32(v->queue + v->offsets[i] + QUEUE_VALUE_LENGTH) + 12;
  v->first += n;
  if (v->first == v->count) {
    v->first = v->count = v->queue_length = 0;
    v->bound = 0;
    return;
  }
  const size_t from = v->offsets[v->first];
  if (from < COMPACT_BYTES) return;
  memmove(v->queue, v->queue + from, v->queue_length - from);
  v->queue_length -= from;
  for (size_t i = v->first; i < v->count; i++) v->offsets[i - v->first] = v->offsets[i] - from;
  v->count -= v->first;
  v->first = 0;
}

/** Pops the heap's top cursor after its entry was used; NULL, or what is wrong with its next. */
static const char* next_of_top(MergeView* v) {
  Cursor* c = &v->cursors[v->heap[0]];
  const char* bad = advance(v, c);
  if (bad != NULL) return bad;
  if (!c->valid) v->heap[0] = v->heap[--v->heap_size];
  if (v->heap_size > 0) sift_down(v, 0);
  return NULL;
}

/** The merge until the queue holds `target` bytes: MERGE_FILLED, MERGE_END, MERGE_UNCOMMON, or -1 (what is in v->what; *failed the input). */
static int fill(MergeView* v, double target, size_t* failed) {
  if (!v->started) {
    v->started = 1;
    for (size_t i = 0; i < v->cursor_count; i++) {
      Cursor* c = &v->cursors[i];
      if (advance(v, c) != NULL) {
        *failed = i;
        return -1;
      }
      if (c->valid) v->heap[v->heap_size++] = i;
    }
    for (size_t i = v->heap_size / 2; i-- > 0;) sift_down(v, i);
  }
  const uint32_t kept_kinds = (uint32_t)v->settings[M_SET_KEPT_KINDS];
  const int delete_kind = (int)v->settings[M_SET_DELETE_KIND];
  const int expiry_kind = (int)v->settings[M_SET_EXPIRY_KIND];
  const double now_ms = v->settings[M_SET_NOW_MS];
  while (v->bound < target) {
    if (v->ended || v->heap_size == 0) {
      v->ended = 1;
      return MERGE_END;
    }
    const size_t top = v->heap[0];
    Cursor* c = &v->cursors[top];
    if (v->end != NULL && compare_bytes(c->key, c->key_length, v->end, v->end_length) >= 0) {
      v->ended = 1;
      return MERGE_END;
    }
    if (v->start == NULL || compare_bytes(c->key, c->key_length, v->start, v->start_length) >= 0) {
      v->entries_in++;
      if (!v->has_last_key || v->last_key_length != c->key_length || memcmp(v->last_key, c->key, c->key_length) != 0) {
        if (!grow(&v->last_key, &v->last_key_capacity, c->key_length)) {
          out_of_memory(v);
          *failed = top;
          return -1;
        }
        memcpy(v->last_key, c->key, c->key_length);
        v->last_key_length = c->key_length;
        v->has_last_key = 1;
        v->last_stripe = -1;
      }
      if (((kept_kinds >> c->kind) & 1) == 0) return MERGE_UNCOMMON;
      int kind = c->kind;
      uint32_t value_length = c->value_length;
      if (kind == expiry_kind && now_ms >= 0) {
        // isExpired (src/base/ttl.ts): an expiry above 2^53 - 1 is the TypeScript merge's to judge.
        if (value_length >= 8 && rd32(c->value + 4) > 0x1fffff) return MERGE_UNCOMMON;
        if (value_length < 8 || u64_as_double(c->value, false) <= now_ms) {
          v->expired++;
          kind = delete_kind;
          value_length = 0;
        }
      }
      const int stripe = (int)stripe_of(v, c->seq);
      if (stripe == v->last_stripe) {
        v->dropped_versions++;
      } else {
        v->last_stripe = stripe;
        if (kind == delete_kind && stripe == 0 && !deeper_contains(v, c->key, c->key_length)) {
          v->dropped_tombstones++;
        } else {
          if (!enqueue(v, c, kind, value_length)) {
            out_of_memory(v);
            *failed = top;
            return -1;
          }
          v->entries_out++;
        }
      }
    }
    if (next_of_top(v) != NULL) {
      *failed = top;
      return -1;
    }
  }
  return MERGE_FILLED;
}

napi_value merge_fill_js(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_CALL(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  MergeView* v = NULL;
  size_t state_length = 0, head_capacity = 0;
  double* state = argc < 3 ? NULL : typed_array_data(env, argv[1], napi_float64_array, &state_length);
  uint8_t* head = argc < 3 ? NULL : typed_array_data(env, argv[2], napi_uint8_array, &head_capacity);
  if (argc < 3 || napi_get_value_external(env, argv[0], (void**)&v) != napi_ok || v == NULL || !v->queue_view.is_queue || state == NULL ||
      state_length != M_STATE_FIELDS || head == NULL) {
    napi_throw_type_error(env, NULL, "mergeFill(view: a mergeView, state: Float64Array, headKey: Uint8Array)");
    return NULL;
  }
  consume(v, (size_t)state[M_CONSUMED]);
  state[M_CONSUMED] = 0;
  size_t failed = 0;
  int status = fill(v, state[M_FILL_BYTES], &failed);
  v->queue_view.queue_data = v->queue;
  v->queue_view.queue_offsets = v->offsets + v->first;
  v->queue_view.queue_count = v->count - v->first;
  state[M_COUNT] = (double)(v->count - v->first);
  state[M_ENTRIES_IN] = v->entries_in;
  state[M_ENTRIES_OUT] = v->entries_out;
  state[M_DROPPED_VERSIONS] = v->dropped_versions;
  state[M_DROPPED_TOMBSTONES] = v->dropped_tombstones;
  state[M_EXPIRED] = v->expired;
  if (status < 0 && v->out_of_memory) {
    napi_throw_error(env, NULL, "mergeFill: out of memory");
    return NULL;
  }
  if (status < 0) {
    state[M_FAILED_INPUT] = (double)failed;
    state[M_FAILED_OFFSET] = (double)v->cursors[failed].block_offset;
    napi_value text;
    NAPI_CALL(napi_create_string_utf8(env, v->what, NAPI_AUTO_LENGTH, &text));
    return text;
  }
  if (status == MERGE_UNCOMMON) return int32_value(env, status);
  if (v->count > v->first) {
    const uint8_t* h = v->queue + v->offsets[v->first];
    const uint32_t length = rd32(h + QUEUE_KEY_LENGTH);
    state[M_HEAD_KEY_LENGTH] = length;
    if (length > head_capacity) return int32_value(env, MERGE_HEAD_KEY);
    memcpy(head, h + QUEUE_HEADER_BYTES, length);
  }
  return int32_value(env, status);
}

napi_value merge_view_js(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  NAPI_CALL(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  static const char* usage = "mergeView(inputs: [mapped, handles: Float64Array][], snapshots: Float64Array, deeper: [Uint8Array, Uint32Array], bounds: [Uint8Array | null, Uint8Array | null], settings: Float64Array)";
  bool is_array = false;
  uint32_t input_count = 0;
  if (argc < 5 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[0], &input_count) != napi_ok) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  MergeView* v = calloc(1, sizeof *v);
  if (v == NULL || (v->cursors = calloc(input_count + 1, sizeof *v->cursors)) == NULL || (v->heap = calloc(input_count + 1, sizeof *v->heap)) == NULL) {
    if (v != NULL) free(v->cursors);
    free(v);
    napi_throw_error(env, NULL, "mergeView: out of memory");
    return NULL;
  }
  v->queue_view.is_queue = 1;
  v->cursor_count = input_count;
  napi_value result = NULL;
  const char* wrong = NULL;
  for (uint32_t i = 0; i < input_count && wrong == NULL; i++) {
    napi_value pair, mapped, handles;
    size_t length = 0;
    Cursor* c = &v->cursors[i];
    if (napi_get_element(env, argv[0], i, &pair) != napi_ok || napi_get_element(env, pair, 0, &mapped) != napi_ok ||
        napi_get_element(env, pair, 1, &handles) != napi_ok || (c->mapping = mapping_arg(env, mapped)) == NULL ||
        (c->handles = typed_array_data(env, handles, napi_float64_array, &length)) == NULL || length % 2 != 0) {
      wrong = usage;
    } else {
      c->blocks = length / 2;
    }
  }
  size_t length = 0, ends_length = 0, keys_length = 0;
  napi_value keys, ends, start, end;
  napi_valuetype type;
  if (wrong == NULL && ((v->snapshots = typed_array_data(env, argv[1], napi_float64_array, &length)) == NULL || length == 0)) wrong = usage;
  v->snapshot_count = length;
  if (wrong == NULL && (napi_get_element(env, argv[2], 0, &keys) != napi_ok || napi_get_element(env, argv[2], 1, &ends) != napi_ok ||
                        (v->deeper_keys = typed_array_data(env, keys, napi_uint8_array, &keys_length)) == NULL ||
                        (v->deeper_ends = typed_array_data(env, ends, napi_uint32_array, &ends_length)) == NULL || ends_length % 2 != 0)) {
    wrong = usage;
  }
  v->deeper_count = ends_length / 2;
  for (size_t i = 0; wrong == NULL && i < ends_length; i++)
    if (v->deeper_ends[i] > keys_length || (i > 0 && v->deeper_ends[i] < v->deeper_ends[i - 1])) wrong = "mergeView: deeper's ends must ascend inside its keys";
  if (wrong == NULL && (napi_get_element(env, argv[3], 0, &start) != napi_ok || napi_get_element(env, argv[3], 1, &end) != napi_ok)) wrong = usage;
  if (wrong == NULL && napi_typeof(env, start, &type) == napi_ok && type != napi_null &&
      (v->start = typed_array_data(env, start, napi_uint8_array, &v->start_length)) == NULL)
    wrong = usage;
  if (wrong == NULL && napi_typeof(env, end, &type) == napi_ok && type != napi_null && (v->end = typed_array_data(env, end, napi_uint8_array, &v->end_length)) == NULL)
    wrong = usage;
  const double* settings = wrong == NULL ? typed_array_data(env, argv[4], napi_float64_array, &length) : NULL;
  if (wrong == NULL && (settings == NULL || length != M_SET_FIELDS)) wrong = usage;
  if (wrong != NULL) {
    finalize_merge(env, v, NULL);
    napi_throw_type_error(env, NULL, wrong);
    return NULL;
  }
  memcpy(v->settings, settings, sizeof v->settings);
  // argv[0..3] hold everything read later: the inputs' mappings and handles, the snapshots,
  // deeper's keys and ends, the bounds.
  for (int i = 0; i < 4; i++) {
    if (napi_create_reference(env, argv[i], 1, &v->refs[i]) != napi_ok) {
      finalize_merge(env, v, NULL);
      napi_throw_error(env, NULL, "mergeView: napi_create_reference");
      return NULL;
    }
  }
  if (napi_create_external(env, v, finalize_merge, NULL, &result) != napi_ok) {
    finalize_merge(env, v, NULL);
    napi_throw_error(env, NULL, "mergeView: napi_create_external");
    return NULL;
  }
  return result;
}
