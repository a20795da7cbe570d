// encodeSkipListBlock (skiplist_blocks.c): a flush's data blocks encoded from a skip list in place.
#ifndef STRATADB_SKIPLIST_BLOCKS_H
#define STRATADB_SKIPLIST_BLOCKS_H
#include <node_api.h>
napi_value skip_list_view_js(napi_env env, napi_callback_info info);
napi_value pack_view_js(napi_env env, napi_callback_info info);
napi_value encode_skip_list_block_js(napi_env env, napi_callback_info info);
#endif
