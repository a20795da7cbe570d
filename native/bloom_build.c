// buildBloomFilter: the bits of a table's filter block (src/sstable/bloom.ts documents the
// format) set from the hashes of its keys, on the worker thread that builds the table.
//
// buildBloomFilter(hashes, count, bits, probes) → undefined
//   For each of hashes[0..count): h, delta = h rotated right by 17 bits, and `probes` times
//   bit (h mod m) of `bits` set (bit i is bit (i & 7) of byte i >> 3; m = 8 × bits.length),
//   h = (h + delta) mod 2^32. Bits already set stay set.
//   REQUIRES (checked, TypeError): hashes a Uint32Array of at least `count`, bits a non-empty
//   Uint8Array, probes from 1 to 30.
//
// The same loop in JavaScript took about 18 ns a key (its `mod` a floating-point division, as
// V8 has no 32-bit unsigned remainder for hashes at or above 2^31), here about 7.

#include <node_api.h>
#include <stdint.h>

#include "bloom_build.h"
#include "bytes.h"

#define MAX_PROBES 30

static void set_bits(const uint32_t* hashes, size_t count, uint8_t* bits, uint64_t m, uint32_t probes) {
  for (size_t i = 0; i < count; i++) {
    uint32_t h = hashes[i];
    uint32_t delta = (h >> 17) | (h << 15);
    for (uint32_t j = 0; j < probes; j++) {
      uint64_t bit = h % m;
      bits[bit >> 3] |= (uint8_t)(1u << (bit & 7));
      h += delta;
    }
  }
}

napi_value build_bloom_filter_js(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  size_t hash_count = 0, bytes = 0;
  uint32_t* hashes = NULL;
  uint8_t* bits = NULL;
  int64_t count = -1, probes = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == 4) {
    hashes = typed_array_data(env, argv[0], napi_uint32_array, &hash_count);
    bits = typed_array_data(env, argv[2], napi_uint8_array, &bytes);
    if (napi_get_value_int64(env, argv[1], &count) != napi_ok) count = -1;
    if (napi_get_value_int64(env, argv[3], &probes) != napi_ok) probes = 0;
  }
  if (hashes == NULL || bits == NULL || bytes == 0 || count < 0 || (size_t)count > hash_count || probes < 1 || probes > MAX_PROBES) {
    napi_throw_type_error(env, NULL, "stratadb_io: buildBloomFilter(hashes, count, bits, probes) with count <= hashes.length, bits not empty, probes 1 to 30");
    return NULL;
  }
  set_bits(hashes, (size_t)count, bits, (uint64_t)bytes * 8, (uint32_t)probes);
  return NULL;
}
