// readBlock (block_read.c): a table block read, checked and decompressed in one call; from a
// mapped table into a scratch buffer for point reads.
#ifndef STRATADB_BLOCK_READ_H
#define STRATADB_BLOCK_READ_H
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>
/** XXH32 of len bytes at p (the xxHash specification's; src/base/checksum.ts computes the same). */
uint32_t xxh32(const uint8_t* p, size_t len, uint32_t seed);
napi_value read_block_js(napi_env env, napi_callback_info info);
napi_value read_block_async_js(napi_env env, napi_callback_info info);
napi_value map_file_js(napi_env env, napi_callback_info info);
napi_value unmap_file_js(napi_env env, napi_callback_info info);
napi_value release_mapped_js(napi_env env, napi_callback_info info);
napi_value read_mapped_block_js(napi_env env, napi_callback_info info);
napi_value scratch_buffer_js(napi_env env, napi_callback_info info);
napi_value seek_mapped_block_js(napi_env env, napi_callback_info info);
#endif
