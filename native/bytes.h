// Small helpers native/block_read.c and native/skiplist_blocks.c share: little-endian reads and
// writes, a u64 read as JavaScript reads it (src/base/bytes.ts), a block entry's varint
// (src/sstable/block-iter.ts), byte order of keys (src/sstable/key-compare.ts), and a typed
// array's memory.
#ifndef STRATADB_BYTES_H
#define STRATADB_BYTES_H
#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t rd32(const uint8_t* p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t rd64(const uint8_t* p) { return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32); }

static inline void put_u32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

/** A u64 LE as a double, as JavaScript computes it; with `checked`, -1 above 2^53 - 1 (getU64). */
static inline double u64_as_double(const uint8_t* p, bool checked) {
  uint32_t lo = rd32(p), hi = rd32(p + 4);
  if (checked && hi > 0x1fffff) return -1;
  return (double)hi * 4294967296.0 + (double)lo;
}

/** A varint32 at d[p..end) as BlockIter's slowVarint reads it: -1 past `end`, over 5 bytes or over 2^32 - 1; *after past it. */
static inline int64_t block_varint(const uint8_t* d, size_t p, size_t end, size_t* after) {
  uint64_t result = 0;
  unsigned shift = 0;
  size_t last = p + 5 < end ? p + 5 : end;
  while (p < last) {
    uint8_t byte = d[p++];
    result |= (uint64_t)(byte & 0x7f) << shift;
    if (byte < 0x80) {
      *after = p;
      return result <= 0xffffffffu ? (int64_t)result : -1;
    }
    shift += 7;
  }
  return -1;
}

/** Unsigned byte order, a prefix first: negative, zero or positive. */
static inline int compare_bytes(const uint8_t* a, size_t a_length, const uint8_t* b, size_t b_length) {
  size_t n = a_length < b_length ? a_length : b_length;
  int c = n == 0 ? 0 : memcmp(a, b, n);
  if (c != 0) return c;
  return a_length < b_length ? -1 : a_length > b_length ? 1 : 0;
}

/** Returns NULL from a Node-API callback, with an Error thrown, when `call` fails. */
#define NAPI_CALL(call)                            \
  do {                                             \
    if ((call) != napi_ok) {                       \
      napi_throw_error(env, NULL, "napi: " #call); \
      return NULL;                                 \
    }                                              \
  } while (0)

/** `n` as a JavaScript number, or NULL (an exception pending) when it cannot be made. */
static inline napi_value int32_value(napi_env env, int32_t n) {
  napi_value result;
  if (napi_create_int32(env, n, &result) != napi_ok) return NULL;
  return result;
}

/**
 * The memory of `value` when it is a typed array of type `want` (its length in *length), else
 * NULL. An empty array's memory may be no address at all: it is then a static byte, never NULL.
 */
static inline void* typed_array_data(napi_env env, napi_value value, napi_typedarray_type want, size_t* length) {
  static uint8_t empty;
  bool is_typed = false;
  napi_typedarray_type type;
  void* data = NULL;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return NULL;
  if (napi_get_typedarray_info(env, value, &type, length, &data, NULL, NULL) != napi_ok || type != want) return NULL;
  return data != NULL ? data : &empty;
}
#endif
