// compressLz4 (lz4_compress.c): a table block compressed in the LZ4 block format.
#ifndef STRATADB_LZ4_COMPRESS_H
#define STRATADB_LZ4_COMPRESS_H
#include <node_api.h>
napi_value compress_lz4_js(napi_env env, napi_callback_info info);
#endif
