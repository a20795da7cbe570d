// compressLz4 (lz4_compress.c): a table block compressed in the LZ4 block format.
#ifndef STRATADB_LZ4_COMPRESS_H
#define STRATADB_LZ4_COMPRESS_H
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>
/** The most bytes lz4_compress writes for n bytes. */
size_t lz4_bound(size_t n);
/** The LZ4 block of src[0..n) written to dst (room for lz4_bound(n)); returns its length. */
size_t lz4_compress(const uint8_t* src, size_t n, uint8_t* dst);
napi_value compress_lz4_js(napi_env env, napi_callback_info info);
#endif
