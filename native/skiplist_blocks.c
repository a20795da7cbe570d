// encodeSkipListBlock: a flush's data blocks encoded straight from an immutable memtable's
// skip list (src/memtable/skiplist.ts: one Int32Array of node records, key and value bytes in
// arena chunks), for TableBuilder.addSkipListRun (src/sstable/table-builder.ts). The block
// format is src/sstable/block-format.ts's, byte for byte what BlockBuilder writes for the same
// entries; the table-level work per entry is TableBuilder.add's (order check, bloom hash of
// each new user key, counters). Compression, the block frame and the index stay in
// TypeScript, once a block.
//
// packView(data, ends, seq, kind) → view (an external)
//   An ingest's pack of sorted pairs (src/compaction/ingest-job.ts): `data` (Uint8Array) the
//   keys and values back to back, `ends` (Uint32Array) where each key and each value ends; every
//   entry has sequence number `seq` and kind `kind`. Entry i is pair i: state[NODE] counts pairs,
//   and the run ends at the pair count. Holds references to both. encodeSkipListBlock encodes
//   from it as from a skip list's.
//
// A compaction's merge queue (compaction_merge.c, mergeView) is a view as well: entry i is the
// queue's i-th, and the run ends at the queue's count.
//
// skipListView(nodes, chunks, layout) → view (an external)
//   The list's memory as this file reads it: `nodes` (Int32Array), `chunks` (an array of
//   Uint8Array, the arena's chunks by id) and `layout` (Int32Array: the field offsets and the
//   head's name, skiplist.ts's numbers, so that they are written down once, there). The view
//   holds references to all of them. REQUIRES: the list no longer changes.
//
// encodeSkipListBlock(view, state, block, hashes, lastKey) → status
//   Encodes entries from node state[NODE] along level 0 into `block` until the block reaches
//   state[BLOCK_BYTES] (estimated as BlockBuilder does) or the list ends, appending the bloom
//   hash (xxh32, seed state[BLOOM_SEED]) of each new user key to `hashes` and updating the
//   table's counters in `state` (indices in the enum below, mirrored in table-builder.ts).
//   With state[CUT_BYTES] not 0, the block also ends before an entry after its first that
//   starts a user key once state[FILE_BYTES] and the block's estimated size reach it (the table
//   is full and is cut there: OutputWriter's rule; the caller looks before the first entry);
//   state[CUT] says so.
//   status 0: a block of state[BLOCK_LENGTH] bytes is in `block`, state moved past it, the
//             last key copied into `lastKey`;
//          1: the list is used up (state[NODE] is the head): nothing was encoded;
//          2, 3, 4: `block`, `hashes` or `lastKey` is too small: nothing was changed (state
//             and the buffers' counted contents are as before); state[NEED] says how many
//             bytes (entries for hashes) the buffer must hold; call again with a larger one;
//          5: entries out of internal order, 6: an entry that is not a valid point entry
//             (kind, a Delete with a value, a field outside its chunk): nothing was changed.
//   Nothing is allocated per entry; a block of more than STACK_RESTARTS restart points
//   keeps its restarts in malloc'd memory for the call.

#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "block_read.h"
#include "bytes.h"
#include "skiplist_blocks.h"

// The layout array (skiplist.ts, SkipList.nativeLayout), in this order.
enum { L_KEY_LENGTH, L_CHUNK, L_OFFSET, L_VALUE_LENGTH, L_KIND, L_SEQ_HI, L_SEQ_LO, L_NEXT, L_HEAD, LAYOUT_FIELDS };
_Static_assert(LAYOUT_FIELDS == sizeof(((SkipListView*)0)->layout) / sizeof(int32_t), "SkipListView.layout holds the layout array");

// The state array (table-builder.ts, NATIVE_STATE), in this order.
enum {
  S_NODE,             // in/out: the next entry's node
  S_BLOCK_BYTES,      // in: the target block size
  S_RESTART_INTERVAL, // in
  S_BLOOM_SEED,       // in
  S_DELETE_KIND,      // in: the Delete kind's number
  S_EXPIRY_KIND,      // in: the PutWithExpiry kind's number (its value starts with a u64 expiry)
  S_POINT_KINDS,      // in: bit k set when kind k is a point entry
  S_EXPIRY_BYTES,     // in
  S_ENTRIES,          // in/out: entries in the table
  S_DELETIONS,        // in/out
  S_SMALLEST_SEQ,     // in/out
  S_LARGEST_SEQ,      // in/out
  S_RAW_KEY_BYTES,    // in/out
  S_RAW_VALUE_BYTES,  // in/out
  S_EARLIEST_EXPIRY,  // in/out: 0 for none
  S_LAST_KEY_LENGTH,  // in/out: the table's last key, in lastKey
  S_LAST_SEQ,         // in/out
  S_HASH_COUNT,       // in/out
  S_BLOCK_LENGTH,     // out
  S_BLOCK_ENTRIES,    // out
  S_NEED,             // out, with status 2, 3, 4
  S_CUT_BYTES,        // in: 0, or the file size at which the table is cut before an entry that starts a user key
  S_FILE_BYTES,       // in: the table's bytes before this block (TableBuilder's offset)
  S_CUT,              // out: 1 when the block ended before such an entry because the table is full
  STATE_FIELDS
};

enum { ST_BLOCK, ST_END, ST_NEED_BLOCK, ST_NEED_HASHES, ST_NEED_LAST_KEY, ST_ORDER, ST_INVALID };

#define STACK_RESTARTS 512


static void finalize_view(napi_env env, void* data, void* hint) {
  (void)hint;
  SkipListView* v = data;
  if (v->nodes_ref != NULL) napi_delete_reference(env, v->nodes_ref);
  if (v->chunks_ref != NULL) napi_delete_reference(env, v->chunks_ref);
  for (uint32_t i = 0; i < v->chunk_count; i++) napi_delete_reference(env, v->chunk_refs[i]);
  free(v->chunk_refs);
  free(v->chunks);
  free(v->chunk_lengths);
  free(v);
}

napi_value pack_view_js(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  NAPI_CALL(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  size_t data_length = 0, ends_length = 0;
  double seq = -1;
  int32_t kind = -1;
  const uint8_t* data = argc < 4 ? NULL : typed_array_data(env, argv[0], napi_uint8_array, &data_length);
  const uint32_t* ends = argc < 4 ? NULL : typed_array_data(env, argv[1], napi_uint32_array, &ends_length);
  if (data == NULL || ends == NULL || ends_length % 2 != 0 || napi_get_value_double(env, argv[2], &seq) != napi_ok || !(seq >= 0 && seq <= 9007199254740991.0) ||
      napi_get_value_int32(env, argv[3], &kind) != napi_ok || kind < 0 || kind > 31) {
    napi_throw_type_error(env, NULL, "packView(data: Uint8Array, ends: Uint32Array of even length, seq: 0..2^53-1, kind: 0..31)");
    return NULL;
  }
  SkipListView* v = calloc(1, sizeof(SkipListView));
  if (v != NULL) {
    v->chunks = calloc(1, sizeof(uint8_t*));
    v->chunk_lengths = calloc(1, sizeof(size_t));
    v->chunk_refs = calloc(1, sizeof(napi_ref));
  }
  if (v == NULL || v->chunks == NULL || v->chunk_lengths == NULL || v->chunk_refs == NULL) {
    if (v != NULL) finalize_view(env, v, NULL);
    napi_throw_error(env, NULL, "packView: out of memory");
    return NULL;
  }
  v->is_pack = 1;
  v->chunks[0] = data;
  v->chunk_lengths[0] = data_length;
  v->ends = ends;
  v->pair_count = ends_length / 2;
  v->pack_seq_hi = (uint32_t)(seq / 4294967296.0);
  v->pack_seq_lo = (uint32_t)(seq - (double)v->pack_seq_hi * 4294967296.0);
  v->pack_kind = kind;
  napi_value result;
  if (napi_create_reference(env, argv[0], 1, &v->chunk_refs[0]) != napi_ok) {
    finalize_view(env, v, NULL);
    napi_throw_error(env, NULL, "packView: napi_create_reference");
    return NULL;
  }
  v->chunk_count = 1;
  if (napi_create_reference(env, argv[1], 1, &v->nodes_ref) != napi_ok || napi_create_external(env, v, finalize_view, NULL, &result) != napi_ok) {
    finalize_view(env, v, NULL);
    napi_throw_error(env, NULL, "packView: napi_create_external");
    return NULL;
  }
  return result;
}

/** One entry of a view, as the encoder reads it. */
typedef struct {
  const uint8_t* key;
  uint32_t key_length;
  uint32_t value_length;
  int32_t kind;
  uint32_t seq_hi, seq_lo;
  int64_t next;
} Entry;

/** Entry `node` of `v` into *e; false when it lies outside the view's memory. */
static int fetch_entry(const SkipListView* v, int64_t node, Entry* e) {
  if (v->is_queue) {
    if (node < 0 || (size_t)node >= v->queue_count) return 0;
    const uint8_t* h = v->queue_data + v->queue_offsets[node];
    e->key_length = rd32(h + QUEUE_KEY_LENGTH);
    e->value_length = rd32(h + QUEUE_VALUE_LENGTH);
    e->seq_lo = rd32(h + QUEUE_SEQ_LO);
    e->seq_hi = rd32(h + QUEUE_SEQ_HI);
    e->kind = h[QUEUE_KIND];
    e->key = h + QUEUE_HEADER_BYTES;
    e->next = node + 1;
    return 1;
  }
  if (v->is_pack) {
    if (node < 0 || (size_t)node >= v->pair_count) return 0;
    size_t i = (size_t)node;
    uint32_t start = i == 0 ? 0 : v->ends[2 * i - 1], key_end = v->ends[2 * i], value_end = v->ends[2 * i + 1];
    if (start > key_end || key_end > value_end || value_end > v->chunk_lengths[0]) return 0;
    e->key = v->chunks[0] + start;
    e->key_length = key_end - start;
    e->value_length = value_end - key_end;
    e->kind = v->pack_kind;
    e->seq_hi = v->pack_seq_hi;
    e->seq_lo = v->pack_seq_lo;
    e->next = node + 1;
    return 1;
  }
  const int32_t* nodes = v->nodes;
  const int32_t* L = v->layout;
  if (node < -L[L_KEY_LENGTH] || (size_t)(node + L[L_NEXT]) >= v->nodes_length) return 0;
  const uint32_t chunk = (uint32_t)nodes[node + L[L_CHUNK]];
  const uint32_t offset = (uint32_t)nodes[node + L[L_OFFSET]];
  e->key_length = (uint32_t)nodes[node + L[L_KEY_LENGTH]];
  e->value_length = (uint32_t)nodes[node + L[L_VALUE_LENGTH]];
  if (chunk >= v->chunk_count || (uint64_t)offset + e->key_length + e->value_length > v->chunk_lengths[chunk]) return 0;
  e->key = v->chunks[chunk] + offset;
  e->kind = nodes[node + L[L_KIND]];
  e->seq_hi = (uint32_t)nodes[node + L[L_SEQ_HI]];
  e->seq_lo = (uint32_t)nodes[node + L[L_SEQ_LO]];
  e->next = nodes[node + L[L_NEXT]];
  return 1;
}

/** Bytes of an entry's key and value prefetched ahead (prefetch_ahead): a few cache lines. */
#define PREFETCH_ENTRY_BYTES 256

/**
 * Prefetches what the next entries are read from, while the current one is encoded: the key
 * and value of node `next` (whose record the previous call prefetched) and the record of the
 * node after it. A flush walks a memtable in key order, and in a memtable filled in random
 * order each node and each key lies far from the last: without this every entry waited for two
 * cache misses in turn. Only a hint: nothing outside the view's memory is touched.
 */
static void prefetch_ahead(const SkipListView* v, int64_t next, int64_t head) {
  if (v->is_pack || v->is_queue || next == head) return;
  const int32_t* nodes = v->nodes;
  const int32_t* L = v->layout;
  if (next < -L[L_KEY_LENGTH] || (size_t)(next + L[L_NEXT]) >= v->nodes_length) return;
  const uint32_t chunk = (uint32_t)nodes[next + L[L_CHUNK]];
  const uint32_t offset = (uint32_t)nodes[next + L[L_OFFSET]];
  if (chunk < v->chunk_count && offset < v->chunk_lengths[chunk]) {
    const uint64_t bytes = (uint64_t)(uint32_t)nodes[next + L[L_KEY_LENGTH]] + (uint32_t)nodes[next + L[L_VALUE_LENGTH]];
    const uint64_t room = v->chunk_lengths[chunk] - offset;
    const uint64_t ahead = bytes < room ? (bytes < PREFETCH_ENTRY_BYTES ? bytes : PREFETCH_ENTRY_BYTES) : room;
    for (uint64_t at = 0; at < ahead; at += 64) __builtin_prefetch(v->chunks[chunk] + offset + at);
  }
  const int64_t after = nodes[next + L[L_NEXT]];
  if (after == head || after < -L[L_KEY_LENGTH] || (size_t)(after + L[L_NEXT]) >= v->nodes_length) return;
  __builtin_prefetch(nodes + after + L[L_KEY_LENGTH]);
  __builtin_prefetch(nodes + after + L[L_NEXT]);
}

napi_value skip_list_view_js(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_CALL(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  size_t nodes_length = 0, layout_length = 0;
  const int32_t* nodes = typed_array_data(env, argv[0], napi_int32_array, &nodes_length);
  const int32_t* layout = typed_array_data(env, argv[2], napi_int32_array, &layout_length);
  bool is_array = false;
  uint32_t chunk_count = 0;
  if (nodes == NULL || layout == NULL || layout_length != LAYOUT_FIELDS || napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[1], &chunk_count) != napi_ok) {
    napi_throw_type_error(env, NULL, "skipListView(nodes: Int32Array, chunks: Uint8Array[], layout: Int32Array)");
    return NULL;
  }
  SkipListView* v = calloc(1, sizeof(SkipListView));
  if (v == NULL) {
    napi_throw_error(env, NULL, "skipListView: out of memory");
    return NULL;
  }
  v->chunks = calloc(chunk_count + 1, sizeof(uint8_t*));
  v->chunk_lengths = calloc(chunk_count + 1, sizeof(size_t));
  v->chunk_refs = calloc(chunk_count + 1, sizeof(napi_ref));
  if (v->chunks == NULL || v->chunk_lengths == NULL || v->chunk_refs == NULL) {
    free(v->chunks);
    free(v->chunk_lengths);
    free(v->chunk_refs);
    free(v);
    napi_throw_error(env, NULL, "skipListView: out of memory");
    return NULL;
  }
  for (uint32_t i = 0; i < chunk_count; i++) {
    napi_value chunk;
    size_t length = 0;
    const uint8_t* data = NULL;
    if (napi_get_element(env, argv[1], i, &chunk) == napi_ok) data = typed_array_data(env, chunk, napi_uint8_array, &length);
    if (data == NULL || napi_create_reference(env, chunk, 1, &v->chunk_refs[i]) != napi_ok) {
      v->chunk_count = i;
      finalize_view(env, v, NULL);
      napi_throw_type_error(env, NULL, "skipListView: every chunk must be a Uint8Array");
      return NULL;
    }
    v->chunks[i] = data;
    v->chunk_lengths[i] = length;
  }
  v->chunk_count = chunk_count;
  v->nodes = nodes;
  v->nodes_length = nodes_length;
  memcpy(v->layout, layout, sizeof(v->layout));
  napi_value result;
  if (napi_create_reference(env, argv[0], 1, &v->nodes_ref) != napi_ok || napi_create_reference(env, argv[1], 1, &v->chunks_ref) != napi_ok ||
      napi_create_external(env, v, finalize_view, NULL, &result) != napi_ok) {
    finalize_view(env, v, NULL);
    napi_throw_error(env, NULL, "skipListView: napi_create_external");
    return NULL;
  }
  return result;
}

static size_t varint_length(uint32_t v) { return v < (1u << 7) ? 1 : v < (1u << 14) ? 2 : v < (1u << 21) ? 3 : v < (1u << 28) ? 4 : 5; }

static uint8_t* put_varint(uint8_t* p, uint32_t v) {
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  return p;
}


napi_value encode_skip_list_block_js(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  NAPI_CALL(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  SkipListView* v = NULL;
  size_t state_length = 0, block_cap = 0, hash_cap = 0, last_key_cap = 0;
  if (argc < 5 || napi_get_value_external(env, argv[0], (void**)&v) != napi_ok || v == NULL) {
    napi_throw_type_error(env, NULL, "encodeSkipListBlock: the first argument must be a skipListView");
    return NULL;
  }
  double* state = typed_array_data(env, argv[1], napi_float64_array, &state_length);
  uint8_t* block = typed_array_data(env, argv[2], napi_uint8_array, &block_cap);
  uint32_t* hashes = typed_array_data(env, argv[3], napi_uint32_array, &hash_cap);
  uint8_t* last_key = typed_array_data(env, argv[4], napi_uint8_array, &last_key_cap);
  if (state == NULL || state_length != STATE_FIELDS || block == NULL || hashes == NULL || last_key == NULL) {
    napi_throw_type_error(env, NULL, "encodeSkipListBlock(view, state: Float64Array, block: Uint8Array, hashes: Uint32Array, lastKey: Uint8Array)");
    return NULL;
  }
  const int64_t head = v->is_pack ? (int64_t)v->pair_count : v->is_queue ? (int64_t)v->queue_count : v->layout[L_HEAD];
  int64_t node = (int64_t)state[S_NODE];
  if (node == head) return int32_value(env, ST_END);

  const double block_bytes = state[S_BLOCK_BYTES];
  const uint32_t restart_interval = (uint32_t)state[S_RESTART_INTERVAL];
  const uint32_t bloom_seed = (uint32_t)state[S_BLOOM_SEED];
  const int32_t delete_kind = (int32_t)state[S_DELETE_KIND];
  const int32_t expiry_kind = (int32_t)state[S_EXPIRY_KIND];
  const uint32_t point_kinds = (uint32_t)state[S_POINT_KINDS];
  const uint32_t expiry_bytes = (uint32_t)state[S_EXPIRY_BYTES];
  const double cut_bytes = state[S_CUT_BYTES], file_bytes = state[S_FILE_BYTES];
  int cut = 0;
  double entries = state[S_ENTRIES], deletions = state[S_DELETIONS];
  double smallest_seq = state[S_SMALLEST_SEQ], largest_seq = state[S_LARGEST_SEQ];
  double raw_key_bytes = state[S_RAW_KEY_BYTES], raw_value_bytes = state[S_RAW_VALUE_BYTES];
  double earliest_expiry = state[S_EARLIEST_EXPIRY];
  double prev_seq = state[S_LAST_SEQ];
  size_t hash_count = (size_t)state[S_HASH_COUNT];
  // The previous entry's key: the table's last (in lastKey) until this block has one.
  const uint8_t* prev_key = last_key;
  size_t prev_length = (size_t)state[S_LAST_KEY_LENGTH];
  if (prev_length > last_key_cap) return int32_value(env, ST_INVALID);

  uint32_t stack_restarts[STACK_RESTARTS];
  uint32_t* restarts = stack_restarts;
  size_t restart_cap = STACK_RESTARTS, restart_count = 1;
  restarts[0] = 0;
  uint32_t since_restart = 0, block_entries = 0;
  size_t length = 0;
  int32_t status = ST_BLOCK;

  for (;;) {
    Entry e;
    if (!fetch_entry(v, node, &e)) {
      status = ST_INVALID;
      break;
    }
    prefetch_ahead(v, e.next, head);
    const uint32_t key_length = e.key_length;
    const uint32_t value_length = e.value_length;
    const int32_t kind = e.kind;
    const double seq = (double)e.seq_hi * 4294967296.0 + (double)e.seq_lo;
    if (kind < 0 || kind > 31 || ((point_kinds >> kind) & 1) == 0 || (kind == delete_kind && value_length != 0)) {
      status = ST_INVALID;
      break;
    }
    const uint8_t* key = e.key;
    const uint8_t* value = key + key_length;

    int new_user_key = 1;
    if (entries > 0) {
      int c = compare_bytes(prev_key, prev_length, key, key_length);
      if (c > 0 || (c == 0 && prev_seq <= seq)) {
        status = ST_ORDER;
        break;
      }
      new_user_key = c != 0;
    }
    // OutputWriter.add's cut (src/compaction/output-writer.ts): before an entry that starts a
    // user key, once the table's estimated size (TableBuilder.estimatedFileBytes) reaches it.
    // The caller looks before the block's first entry.
    if (cut_bytes > 0 && block_entries > 0 && new_user_key && file_bytes + (double)(length + (restart_count + 1) * 4) >= cut_bytes) {
      cut = 1;
      break;
    }

    // The entry as BlockBuilder.add writes it.
    size_t shared = 0;
    int restart = 0;
    if (since_restart == restart_interval) {
      restart = 1;
    } else if (block_entries > 0) {
      size_t n = prev_length < key_length ? prev_length : key_length;
      while (shared < n && prev_key[shared] == key[shared]) shared++;
    }
    const uint32_t unshared = key_length - (uint32_t)shared;
    const size_t need = varint_length((uint32_t)shared) + varint_length(unshared) + varint_length(value_length) + unshared + 9 + value_length;
    const size_t restarts_after = restart_count + (size_t)restart;
    const size_t finished = length + need + (restarts_after + 1) * 4;
    if (finished > block_cap) {
      state[S_NEED] = (double)finished;
      status = ST_NEED_BLOCK;
      break;
    }
    if (new_user_key && hash_count >= hash_cap) {
      state[S_NEED] = (double)(hash_count + 1);
      status = ST_NEED_HASHES;
      break;
    }
    if (restart) {
      if (restart_count == restart_cap) {
        size_t cap = restart_cap * 2;
        uint32_t* grown = malloc(cap * sizeof(uint32_t));
        if (grown == NULL) {
          if (restarts != stack_restarts) free(restarts);
          napi_throw_error(env, NULL, "encodeSkipListBlock: out of memory");
          return NULL;
        }
        memcpy(grown, restarts, restart_count * sizeof(uint32_t));
        if (restarts != stack_restarts) free(restarts);
        restarts = grown;
        restart_cap = cap;
      }
      restarts[restart_count++] = (uint32_t)length;
      since_restart = 0;
    }
    if (new_user_key) hashes[hash_count++] = xxh32(key, key_length, bloom_seed);
    uint8_t* p = block + length;
    p = put_varint(p, (uint32_t)shared);
    p = put_varint(p, unshared);
    p = put_varint(p, value_length);
    memcpy(p, key + shared, unshared);
    p += unshared;
    put_u32(p, e.seq_lo);
    put_u32(p + 4, e.seq_hi);
    p[8] = (uint8_t)kind;
    p += 9;
    memcpy(p, value, value_length);
    length = (size_t)(p - block) + value_length;
    since_restart++;
    block_entries++;

    entries++;
    if (kind == delete_kind) {
      deletions++;
    } else if (kind == expiry_kind && value_length >= expiry_bytes) {
      double at = u64_as_double(value, true);
      if (earliest_expiry == 0 || at < earliest_expiry) earliest_expiry = at;
    }
    if (seq < smallest_seq) smallest_seq = seq;
    if (seq > largest_seq) largest_seq = seq;
    raw_key_bytes += key_length;
    raw_value_bytes += value_length;
    prev_key = key;
    prev_length = key_length;
    prev_seq = seq;

    node = e.next;
    if ((double)(length + (restart_count + 1) * 4) >= block_bytes || node == head) break;
  }

  if (status == ST_BLOCK && block_entries > 0 && prev_length > last_key_cap) {
    state[S_NEED] = (double)prev_length;
    status = ST_NEED_LAST_KEY;
  }
  if (status == ST_BLOCK) {
    uint8_t* p = block + length;
    for (size_t i = 0; i < restart_count; i++, p += 4) put_u32(p, restarts[i]);
    put_u32(p, (uint32_t)restart_count);
    memmove(last_key, prev_key, prev_length);
    state[S_NODE] = (double)node;
    state[S_ENTRIES] = entries;
    state[S_DELETIONS] = deletions;
    state[S_SMALLEST_SEQ] = smallest_seq;
    state[S_LARGEST_SEQ] = largest_seq;
    state[S_RAW_KEY_BYTES] = raw_key_bytes;
    state[S_RAW_VALUE_BYTES] = raw_value_bytes;
    state[S_EARLIEST_EXPIRY] = earliest_expiry;
    state[S_LAST_KEY_LENGTH] = (double)prev_length;
    state[S_LAST_SEQ] = prev_seq;
    state[S_HASH_COUNT] = (double)hash_count;
    state[S_BLOCK_LENGTH] = (double)(p + 4 - block);
    state[S_BLOCK_ENTRIES] = (double)block_entries;
    state[S_CUT] = cut;
  }
  if (restarts != stack_restarts) free(restarts);
  return int32_value(env, status);
}
