// decodeIndexBlock: a table's index block (src/sstable/format.ts; entries in the data block
// format of src/sstable/block-format.ts) decoded into the flat arrays TableIndex searches
// (src/sstable/table-index.ts), in one call, for a table being opened.
//
// decodeIndexBlock(data, entriesEnd, dataBlocks, dataEnd, trailerBytes, kinds)
//   → [keys, keyOffsets, seqs, blockOffsets, blockSizes, words, skip] | null
//   data        the index block's checked contents (a Block: its restart array already checked)
//   entriesEnd  where its entries end (the restart array's offset)
//   dataBlocks  the data blocks the properties count; dataEnd where they end (the filter block)
//   trailerBytes a block frame's trailer (src/sstable/physical-block.ts)
//   kinds       bit k set for each valid value kind k
//   The arrays are decodeIndex's (table-index.ts), and words and skip TableIndex's: the same
//   values, made in C. null when anything is not as decodeIndex accepts it (an entry header,
//   a sequence number or kind, a handle, the data blocks' layout, their count): the caller then
//   decodes in JavaScript, which says what is wrong. Never laxer than decodeIndex: whatever
//   this accepts, decodeIndex accepts with the same result.
//
// In JavaScript the decoding of a table of 9,067 data blocks took 4.5 ms warm and 23 ms cold
// (here 1.5-3.6 ms), cut into slices with a turn of the event loop between them, so that the
// first gets after open() waited about 110 ms for four such tables to open (47 ms with this).

#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "index_decode.h"

/** A LEB128 varint up to 2^53 - 1 (format.ts's getVarint53): its value, or -1; *after past it. */
static int64_t varint53(const uint8_t* d, size_t p, size_t end, size_t* after) {
  uint64_t result = 0;
  for (unsigned shift = 0; p < end && shift <= 49; shift += 7) {
    uint8_t byte = d[p++];
    result += (uint64_t)(byte & 0x7f) << shift;
    if (byte < 0x80) {
      *after = p;
      return result <= 0x1fffffffffffffull ? (int64_t)result : -1;
    }
  }
  return -1;
}

/** The first four bytes of p[0..length), big-endian, zero-padded (table-index.ts's prefixAt). */
static inline uint32_t prefix_at(const uint8_t* p, size_t length) {
  return ((length > 0 ? (uint32_t)p[0] : 0) << 24) | ((length > 1 ? (uint32_t)p[1] : 0) << 16) | ((length > 2 ? (uint32_t)p[2] : 0) << 8) |
         (length > 3 ? (uint32_t)p[3] : 0);
}

/** A new typed array of `count` elements of `type` (`size` bytes each) and its memory. */
static void* new_typed(napi_env env, napi_typedarray_type type, size_t size, size_t count, napi_value* result) {
  napi_value buffer;
  void* data;
  if (napi_create_arraybuffer(env, size * count, &data, &buffer) != napi_ok || napi_create_typedarray(env, type, count, buffer, 0, result) != napi_ok) return NULL;
  return data;
}

napi_value decode_index_block_js(napi_env env, napi_callback_info info) {
  napi_value argv[6], result, null;
  size_t argc = 6, length = 0;
  uint32_t entries_end, count, trailer, kinds;
  double data_end;
  const uint8_t* d;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6 || (d = typed_array_data(env, argv[0], napi_uint8_array, &length)) == NULL ||
      napi_get_value_uint32(env, argv[1], &entries_end) != napi_ok || napi_get_value_uint32(env, argv[2], &count) != napi_ok ||
      napi_get_value_double(env, argv[3], &data_end) != napi_ok || napi_get_value_uint32(env, argv[4], &trailer) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &kinds) != napi_ok || entries_end > length) {
    napi_throw_type_error(env, NULL, "stratadb_io: decodeIndexBlock(data, entriesEnd, dataBlocks, dataEnd, trailerBytes, kinds)");
    return NULL;
  }
  NAPI_CALL(napi_get_null(env, &null));
  // The separators' bytes: never more than the entries' bytes (a key is at most its entry's
  // shared bytes, from the previous key, plus its suffix; shared bytes can repeat, so grow).
  size_t key_capacity = entries_end > 64 ? entries_end : 64, key_bytes = 0, previous_length = 0;
  uint8_t* keys = malloc(key_capacity);
  uint32_t* key_offsets = malloc(((size_t)count + 1) * sizeof *key_offsets);
  double* seqs = malloc((count > 0 ? count : 1) * sizeof *seqs);
  double* offsets = malloc((count > 0 ? count : 1) * sizeof *offsets);
  uint32_t* sizes = malloc((count > 0 ? count : 1) * sizeof *sizes);
  bool ok = keys != NULL && key_offsets != NULL && seqs != NULL && offsets != NULL && sizes != NULL;
  if (ok) key_offsets[0] = 0;
  uint64_t expected = 0;
  uint32_t i = 0;
  for (size_t p = 0; ok && p < entries_end; i++) {
    size_t q, after;
    int64_t shared = block_varint(d, p, entries_end, &after);
    int64_t unshared = shared >= 0 ? block_varint(d, q = after, entries_end, &after) : -1;
    int64_t value_length = unshared >= 0 ? block_varint(d, q = after, entries_end, &after) : -1;
    if (i == count || value_length < 0 || (size_t)shared > previous_length) {
      ok = false;
      break;
    }
    q = after;
    size_t value_offset = q + (size_t)unshared + 8 + 1;
    if (value_offset + (size_t)value_length > entries_end) {
      ok = false;
      break;
    }
    size_t key_length = (size_t)shared + (size_t)unshared;
    if (key_bytes + key_length > key_capacity) {
      size_t grown = 2 * key_capacity > key_bytes + key_length ? 2 * key_capacity : key_bytes + key_length;
      uint8_t* bigger = realloc(keys, grown);
      if (bigger == NULL) {
        ok = false;
        break;
      }
      keys = bigger;
      key_capacity = grown;
    }
    // The key: the previous separator's first `shared` bytes, then the suffix.
    if (i > 0) memmove(keys + key_bytes, keys + key_offsets[i - 1], (size_t)shared);
    memcpy(keys + key_bytes + shared, d + q, (size_t)unshared);
    const uint8_t* trailer_at = d + q + unshared;
    uint32_t hi = rd32(trailer_at + 4);
    uint8_t kind = trailer_at[8];
    if (hi > 0x1fffff || kind > 31 || ((kinds >> kind) & 1) == 0) {
      ok = false;
      break;
    }
    size_t handle_end = value_offset + (size_t)value_length, at;
    int64_t offset = varint53(d, value_offset, handle_end, &at);
    int64_t size = offset >= 0 ? varint53(d, at, handle_end, &at) : -1;
    // (A size past 32 bits, which decodeIndex's Uint32Array would wrap, is left to it.)
    if (size < 0 || size > (int64_t)UINT32_MAX || at != handle_end || (uint64_t)offset != expected) {
      ok = false;
      break;
    }
    expected = (uint64_t)offset + (uint64_t)size + trailer;
    key_bytes += key_length;
    key_offsets[i + 1] = (uint32_t)key_bytes;
    seqs[i] = u64_as_double(trailer_at, false);
    offsets[i] = (double)offset;
    sizes[i] = (uint32_t)size;
    previous_length = key_length;
    p = handle_end;
  }
  ok = ok && i == count && (double)expected == data_end && key_bytes <= UINT32_MAX;
  result = null;
  if (ok) {
    // TableIndex's common prefix and leading words.
    size_t skip = 0;
    if (count > 0) {
      size_t last_start = key_offsets[count - 1], first_length = key_offsets[1];
      size_t common = first_length < key_bytes - last_start ? first_length : key_bytes - last_start;
      while (skip < common && keys[skip] == keys[last_start + skip]) skip++;
    }
    napi_value parts[7], keys_value;
    void* keys_data;
    uint32_t* words;
    uint32_t* key_offsets_out;
    double* seqs_out;
    double* offsets_out;
    uint32_t* sizes_out;
    ok = napi_create_buffer(env, key_bytes, &keys_data, &keys_value) == napi_ok;
    ok = ok && (key_offsets_out = new_typed(env, napi_uint32_array, 4, (size_t)count + 1, &parts[1])) != NULL;
    ok = ok && (seqs_out = new_typed(env, napi_float64_array, 8, count, &parts[2])) != NULL;
    ok = ok && (offsets_out = new_typed(env, napi_float64_array, 8, count, &parts[3])) != NULL;
    ok = ok && (sizes_out = new_typed(env, napi_uint32_array, 4, count, &parts[4])) != NULL;
    ok = ok && (words = new_typed(env, napi_uint32_array, 4, 2 * (size_t)count, &parts[5])) != NULL;
    ok = ok && napi_create_uint32(env, (uint32_t)skip, &parts[6]) == napi_ok && napi_create_array_with_length(env, 7, &result) == napi_ok;
    if (ok) {
      parts[0] = keys_value;
      if (key_bytes > 0) memcpy(keys_data, keys, key_bytes);
      memcpy(key_offsets_out, key_offsets, ((size_t)count + 1) * sizeof *key_offsets);
      if (count > 0) {
        memcpy(seqs_out, seqs, count * sizeof *seqs);
        memcpy(offsets_out, offsets, count * sizeof *offsets);
        memcpy(sizes_out, sizes, count * sizeof *sizes);
      }
      for (uint32_t j = 0; j < count; j++) {
        size_t start = key_offsets[j] + skip, n = key_offsets[j + 1] - start;
        words[2 * j] = prefix_at(keys + start, n);
        words[2 * j + 1] = n > 4 ? prefix_at(keys + start + 4, n - 4) : 0;
      }
      for (uint32_t j = 0; ok && j < 7; j++) ok = napi_set_element(env, result, j, parts[j]) == napi_ok;
    }
    if (!ok) {
      result = NULL;
      napi_throw_error(env, NULL, "stratadb_io: could not make the index's arrays");
    }
  }
  free(keys);
  free(key_offsets);
  free(seqs);
  free(offsets);
  free(sizes);
  return result;
}
