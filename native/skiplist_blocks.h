// encodeSkipListBlock (skiplist_blocks.c): a flush's data blocks encoded from a skip list in place;
// also from an ingest's pack and from a compaction's merge queue (compaction_merge.c).
#ifndef STRATADB_SKIPLIST_BLOCKS_H
#define STRATADB_SKIPLIST_BLOCKS_H
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

// An entry of a merge queue (compaction_merge.c writes them, encodeSkipListBlock reads them):
// a header of QUEUE_HEADER_BYTES, then the key, then the value, at queue_offsets[node] in
// queue_data. The u32 fields are little-endian.
enum {
  QUEUE_KEY_LENGTH = 0,    // u32
  QUEUE_VALUE_LENGTH = 4,  // u32
  QUEUE_SEQ_LO = 8,        // u32
  QUEUE_SEQ_HI = 12,       // u32
  QUEUE_KIND = 16,         // u8
  QUEUE_HEADER_BYTES = 17
};

/** What encodeSkipListBlock encodes from: a skip list's memory, an ingest's pack, or a merge queue. */
typedef struct {
  napi_ref nodes_ref;
  napi_ref chunks_ref;
  const int32_t* nodes;
  size_t nodes_length;
  uint32_t chunk_count;
  const uint8_t** chunks;
  size_t* chunk_lengths;
  int32_t layout[9];
  napi_ref* chunk_refs;
  // A pack's view (packView): nodes, chunks and layout unused; its data is chunk 0.
  int is_pack;
  const uint32_t* ends;
  size_t pair_count;
  uint32_t pack_seq_hi, pack_seq_lo;
  int32_t pack_kind;
  // A merge queue (compaction_merge.c, whose MergeView begins with this struct): entry i at
  // queue_data + queue_offsets[i], i < queue_count; the run ends at queue_count. The merge
  // moves them between calls, never during one.
  int is_queue;
  const uint8_t* queue_data;
  const size_t* queue_offsets;
  size_t queue_count;
} SkipListView;

napi_value skip_list_view_js(napi_env env, napi_callback_info info);
napi_value pack_view_js(napi_env env, napi_callback_info info);
napi_value encode_skip_list_block_js(napi_env env, napi_callback_info info);
#endif
