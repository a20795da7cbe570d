// decodeIndexBlock (index_decode.c): a table's index block decoded into TableIndex's arrays in one call.
#ifndef STRATADB_INDEX_DECODE_H
#define STRATADB_INDEX_DECODE_H
#include <node_api.h>
napi_value decode_index_block_js(napi_env env, napi_callback_info info);
#endif
