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
napi_value adopt_block_js(napi_env env, napi_callback_info info);
napi_value move_within_async_js(napi_env env, napi_callback_info info);
napi_value map_file_js(napi_env env, napi_callback_info info);
napi_value unmap_file_js(napi_env env, napi_callback_info info);
napi_value release_mapped_js(napi_env env, napi_callback_info info);
napi_value read_mapped_block_js(napi_env env, napi_callback_info info);
napi_value scratch_buffer_js(napi_env env, napi_callback_info info);
napi_value seek_mapped_block_js(napi_env env, napi_callback_info info);
napi_value prefault_mapped_js(napi_env env, napi_callback_info info);

/** A table mapped by mapFile: its handle's data. */
typedef struct {
  uint8_t* base;  // NULL once unmapped (unmapFile): every read checks it
  size_t length;
  uint8_t* region;  // the mapping, until munmap(2): at unmapFile, or after the last prefault job that reads it
  uint32_t jobs;  // prefaultMapped jobs under way (counted on the event loop's thread)
  int stop;  // set (atomically) by unmapFile: the jobs reading the mapping stop early
} Mapping;

/** The Mapping behind a mapFile handle, or NULL when `value` is not one. */
Mapping* mapping_arg(napi_env env, napi_value value);
/** mapped_block_into's answer when the buffer could not grow (not damage). */
extern const char BLOCK_OUT_OF_MEMORY[];
/**
 * The mapped block whose payload is `size` bytes at `offset`, checked and decoded (readBlock's
 * checks, the same texts) into *buffer, grown with realloc(3) when its *capacity is too small:
 * NULL and its contents' length in *length, or what failed (a constant, or `what` written;
 * BLOCK_OUT_OF_MEMORY itself when the buffer could not grow).
 */
const char* mapped_block_into(Mapping* m, int64_t offset, int64_t size, uint32_t none_code, uint32_t lz4_code, int64_t max_contents, uint8_t** buffer,
                              size_t* capacity, size_t* length, char* what, size_t what_len);
/** madvise(2) MADV_DONTNEED of the mapping's whole pages below byte `end` (releaseMapped's work): the bytes released. */
size_t release_mapped_below(Mapping* m, size_t end);
/** The scratch buffer's size: blocks whose contents exceed it are read with readBlock (large blocks have their own path). */
#define SCRATCH_BYTES (1024 * 1024)
/** This thread's scratch buffer (SCRATCH_BYTES), made on first use; NULL when it cannot be. */
uint8_t* scratch_data(napi_env env);

/** seekMappedBlock's answers, and the fields of its `out`. */
enum { SEEK_PAST_END = 0, SEEK_OTHER_KEY = 1, SEEK_FOUND = 2 };
enum { OUT_CONTENTS_ERROR, OUT_SEQ, OUT_KIND, OUT_VALUE_OFFSET, OUT_VALUE_LENGTH, OUT_FIELDS };

/** One block of a mapped table, and where its contents go. */
typedef struct {
  Mapping* mapping;
  uint8_t* scratch;
  int64_t offset, size;
  uint32_t none_code, lz4_code;
  int64_t max_contents;
} MappedBlockRead;

/**
 * seekMappedBlock's work for a caller in C: the block checked and decoded into r->scratch, then
 * searched for (key, seq). Returns SEEK_* (out filled as seekMappedBlock's), or -1 when the
 * contents do not fit the scratch buffer; *bad is what failed (out[OUT_CONTENTS_ERROR] 1 when
 * about the contents), else NULL. `what` holds the text *bad may point to.
 */
/** The search seekMappedBlock runs, over checked contents d[0..length): SEEK_* in *status, or what is wrong with them. */
const char* seek_block_contents(const uint8_t* d, size_t length, const uint8_t* key, size_t key_length, double seq, uint32_t kinds, double* out, int* status,
                                char* what, size_t what_len);
int seek_mapped(const MappedBlockRead* r, const uint8_t* key, size_t key_length, double seq, uint32_t kinds, double* out, const char** bad, char* what, size_t what_len);
#endif
