// compressLz4: a table block's contents compressed as the LZ4 payload of its frame
// (src/sstable/physical-block.ts: contentsLength u32 LE | LZ4 block), written straight into the
// table builder's staging buffer. lz4-napi's compressSync, which it replaces where the addon is
// built, made a Buffer of its own for every block and took about 9.5 µs for a 4 KiB block here.
//
// compressLz4(contents, out, at) → bytes written at out[at..]: the 4-byte length and the block.
//   REQUIRES (checked, TypeError): out has room for lz4Bound(contents.length) + 4 bytes at `at`.
//
// The block is the LZ4 block format (lz4's doc/lz4_Block_format.md), which every LZ4 decoder
// reads (this addon's lz4_decode, and lz4-napi where the addon is absent):
//   sequence := token | literal length bytes | literals | offset u16 LE | match length bytes
//   token    := literal length (4 high bits) | match length - 4 (4 low bits), 15 meaning "more
//               bytes follow", each 255 but the last
// The end rules of the format hold: the last 5 bytes are literals, and the last match starts at
// least 12 bytes before the end (a block shorter than 13 bytes is all literals). Matches are
// found with a hash table of 4-byte sequences (4096 entries), greedily, one pass, and checked
// byte for byte before they are used, so a stale or colliding table entry costs only a miss.

#include <node_api.h>
#include <stdint.h>
#include <string.h>

#include "bytes.h"
#include "lz4_compress.h"

#define MIN_MATCH 4
#define LAST_LITERALS 5
#define MF_LIMIT 12
#define MAX_OFFSET 65535
#define HASH_LOG 12
#define SKIP_TRIGGER 6

/** The most bytes lz4_compress writes for n bytes (lz4's LZ4_COMPRESSBOUND). */
static size_t lz4_bound(size_t n) { return n + n / 255 + 16; }

static inline uint32_t hash4(uint32_t v) { return (v * 2654435761u) >> (32 - HASH_LOG); }

/** A length's extra bytes after a token field of 15: 255s, then the rest. */
static inline uint8_t* put_length(uint8_t* op, size_t rest) {
  while (rest >= 255) {
    *op++ = 255;
    rest -= 255;
  }
  *op++ = (uint8_t)rest;
  return op;
}

/** One sequence: literals [anchor, anchor + lit), then a match of `match` bytes `offset` back (match 0: the last literals). */
static inline uint8_t* put_sequence(uint8_t* op, const uint8_t* anchor, size_t lit, size_t offset, size_t match) {
  uint8_t* token = op++;
  uint8_t t = lit >= 15 ? 15 << 4 : (uint8_t)(lit << 4);
  if (lit >= 15) op = put_length(op, lit - 15);
  memcpy(op, anchor, lit);
  op += lit;
  if (match > 0) {
    op[0] = (uint8_t)offset;
    op[1] = (uint8_t)(offset >> 8);
    op += 2;
    size_t m = match - MIN_MATCH;
    if (m >= 15) {
      t |= 15;
      op = put_length(op, m - 15);
    } else {
      t |= (uint8_t)m;
    }
  }
  *token = t;
  return op;
}

/** The LZ4 block of src[0..n) written to dst (room for lz4_bound(n)); returns its length. */
static size_t lz4_compress(const uint8_t* src, size_t n, uint8_t* dst) {
  uint8_t* op = dst;
  const uint8_t* anchor = src;
  if (n >= MF_LIMIT + 1) {
    uint32_t table[1 << HASH_LOG];
    memset(table, 0, sizeof table);
    const uint8_t* const match_start_limit = src + n - MF_LIMIT;
    const uint8_t* const match_end_limit = src + n - LAST_LITERALS;
    const uint8_t* ip = src;
    unsigned misses = 1u << SKIP_TRIGGER;
    while (ip < match_start_limit) {
      uint32_t seq = rd32(ip);
      uint32_t h = hash4(seq);
      const uint8_t* ref = src + table[h];
      table[h] = (uint32_t)(ip - src);
      if (ref >= ip || (size_t)(ip - ref) > MAX_OFFSET || rd32(ref) != seq) {
        // Data that does not repeat is skipped faster the longer it goes on (lz4's acceleration).
        ip += misses++ >> SKIP_TRIGGER;
        continue;
      }
      misses = 1u << SKIP_TRIGGER;
      // Earlier bytes that match too join the match, down to the literals' start.
      while (ip > anchor && ref > src && ip[-1] == ref[-1]) {
        ip--;
        ref--;
      }
      const uint8_t* end = ip + MIN_MATCH;
      const uint8_t* r = ref + MIN_MATCH;
      // Eight bytes at a time, to the first that differs (the lowest differing byte of two
      // little-endian words), then the last few one by one: the same match as byte by byte.
      while (end + 8 <= match_end_limit) {
        uint64_t diff = rd64(end) ^ rd64(r);
        if (diff != 0) {
          end += __builtin_ctzll(diff) >> 3;
          goto matched;
        }
        end += 8;
        r += 8;
      }
      while (end < match_end_limit && *end == *r) {
        end++;
        r++;
      }
    matched:
      op = put_sequence(op, anchor, (size_t)(ip - anchor), (size_t)(ip - ref), (size_t)(end - ip));
      anchor = ip = end;
      // The position two back is worth a table entry: runs often repeat from there.
      if (ip - 2 >= src && ip < match_start_limit) table[hash4(rd32(ip - 2))] = (uint32_t)(ip - 2 - src);
    }
  }
  op = put_sequence(op, anchor, (size_t)(src + n - anchor), 0, 0);
  return (size_t)(op - dst);
}

napi_value compress_lz4_js(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  size_t contents_length = 0, out_length = 0;
  uint8_t* contents = NULL;
  uint8_t* out = NULL;
  int64_t at = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == 3) {
    contents = typed_array_data(env, argv[0], napi_uint8_array, &contents_length);
    out = typed_array_data(env, argv[1], napi_uint8_array, &out_length);
    if (napi_get_value_int64(env, argv[2], &at) != napi_ok) at = -1;
  }
  if (contents == NULL || out == NULL || at < 0 || contents_length > UINT32_MAX || (size_t)at > out_length ||
      out_length - (size_t)at < 4 + lz4_bound(contents_length)) {
    napi_throw_type_error(env, NULL, "stratadb_io: compressLz4(contents, out, at) with room for 4 + lz4Bound(contents.length) bytes at out[at]");
    return NULL;
  }
  put_u32(out + at, (uint32_t)contents_length);
  size_t written = 4 + lz4_compress(contents, contents_length, out + at + 4);
  napi_value result;
  if (napi_create_double(env, (double)written, &result) != napi_ok) return NULL;
  return result;
}
