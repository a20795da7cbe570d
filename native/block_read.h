// readBlock (block_read.c): a table block read, checked and decompressed in one call.
#ifndef STRATADB_BLOCK_READ_H
#define STRATADB_BLOCK_READ_H
#include <node_api.h>
napi_value read_block_js(napi_env env, napi_callback_info info);
napi_value read_block_async_js(napi_env env, napi_callback_info info);
#endif
