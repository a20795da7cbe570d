// buildBloomFilter (bloom_build.c): a table's bloom filter bits set from its keys' hashes.
#ifndef STRATADB_BLOOM_BUILD_H
#define STRATADB_BLOOM_BUILD_H
#include <node_api.h>
napi_value build_bloom_filter_js(napi_env env, napi_callback_info info);
#endif
