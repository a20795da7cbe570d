// stratadb_io: the file calls that node:fs lacks, for src/base/native.ts (the only loader).
//
// Exports (ABI_VERSION 20; src/base/native.ts refuses any other):
//   abiVersion                                  number
//   appendAndSync(fd, chunks, position) → Promise<bytes written>
//       pwritev(2) of every chunk at `position`, then fdatasync(2), as one job on libuv's
//       thread pool. Resolves only after fdatasync succeeded.
//   fallocate(fd, offset, length) → Promise<void>
//       fallocate(2) mode 0: allocates blocks and extends the size to offset + length.
//   flock(fd) → undefined
//       flock(2) LOCK_EX | LOCK_NB, on the calling thread: it never waits. A lock held through
//       another open file description throws errno EWOULDBLOCK.
//   funlock(fd) → undefined
//       flock(2) LOCK_UN.
//   readBlock(fd, offset, size, noneCode, lz4Code, maxContents) → Buffer | string
//       a table block: pread, xxh32 check and LZ4 decompression in one call (block_read.c).
//   readBlockAsync(fd, offset, size, noneCode, lz4Code, maxContents, into?) → Promise<loaded |
//   number | string>, adoptBlock(loaded) → Buffer
//       the same as one job on libuv's thread pool, for blocks of megabytes, into the caller's
//       buffer when given one they fit, else contents of their own that adoptBlock makes a
//       Buffer on a later turn of the loop (block_read.c). moveWithinAsync(view, from, length) →
//       Promise<void>: memmove(3) of view[from, from + length) to its start on the thread pool
//       (getInto's value, read with its block into the caller's buffer).
//   mapFile(fd, length) → mapped, unmapFile(mapped), readMappedBlock(mapped, offset, size,
//   noneCode, lz4Code, maxContents) → number | string, scratchBuffer() → ArrayBuffer
//       a table mapped read-only, and a block of it checked and decompressed into this
//       thread's scratch buffer, for point reads (block_read.c). releaseMapped(mapped, end)
//       → bytes: madvise(2) MADV_DONTNEED of the mapping's whole pages below `end` (a
//       compaction's inputs, read once, leave the resident set as it goes).
//   decodeIndexBlock(data, entriesEnd, dataBlocks, dataEnd, trailerBytes, kinds) → parts | null
//       a table's index block decoded into TableIndex's arrays (index_decode.c).
//   prefaultMapped(mapped, start, end) → Promise<bytes>
//       on libuv's thread pool, a read of each page of the mapping in [start, end) that the
//       page cache holds (mincore(2)): the page-table entries made before a read needs them
//       (block_read.c).
//   seekMappedBlock(mapped, offset, size, noneCode, lz4Code, maxContents, key, seq, kinds, out)
//   → number | string
//       readMappedBlock, then the point read's search of the block there (block_read.c).
//   blockSlots(count) → slots, setBlockSlot(slots, i, contents | null), tableSearch(parts,
//   numbers, out) → search, tableGet(search, key, seq) → number | string
//       a point read of one mapped table in one call: its bloom filter, its index and the
//       search of the block read from the mapping (table_get.c, which says what they hold).
//   tableWalk(searches, bounds, seqs, ends) → walk, tablesGet(walk, from, key, seq) → number |
//   string
//       tableGet of several tables one after another in one call (every level's, for a get).
//   decommit(view) → bytes released
//       madvise(2) MADV_DONTNEED of the whole pages inside a typed array's memory (a
//       SharedArrayBuffer's included): the pages leave the resident set at once and read as
//       zeros when next touched. REQUIRES: nobody needs the view's contents any more.
//   skipListView(nodes, chunks, layout) → view, encodeSkipListBlock(view, state, block,
//   hashes, lastKey) → status
//       a flush's data blocks encoded from an immutable memtable's skip list in place
//       (skiplist_blocks.c). packView(data, ends, seq, kind) → view: an ingest's pack of sorted
//       pairs, which encodeSkipListBlock encodes from as from a skip list's view.
//   mergeView(inputs, snapshots, deeper, bounds, settings) → view, mergeFill(view, state,
//   headKey) → status | string
//       a compaction's merge of point entries from its inputs' mappings into a queue that
//       encodeSkipListBlock encodes the output's data blocks from (compaction_merge.c).
//   compressLz4(contents, out, at) → bytes written
//       a table block's LZ4 payload (its length, then the LZ4 block) written into `out` at
//       `at`, for the table builder (lz4_compress.c).
//   buildBloomFilter(hashes, count, bits, probes) → undefined
//       a table's filter bits set from its keys' hashes, for the table builder (bloom_build.c).
//   searchSkipList(nodes, layout, keys, count, height, preds) → 0 | -1
//       where each of a group of keys goes in a memtable's skip list, the searches overlapped
//       (skiplist_search.c).
//   appendToSkipList(nodes, layout, chunk, slots, heights, tails, state, batch) → entries
//       a write batch's leading entries that go after every entry of a memtable's skip list,
//       linked in and indexed as SkipList.insert would (skiplist_append.c).
//   trimMemory() → undefined
//       malloc_trim(3): free memory of every malloc arena goes back to the kernel (glibc; a
//       no-op elsewhere). Called by a worker after each job (src/compaction/worker.ts).
//   hugePages(view) → offset
//       madvise(2) MADV_HUGEPAGE of the 2 MiB-aligned whole huge pages inside a typed array's
//       memory: the kernel backs them with transparent huge pages when it faults them in.
//       Returns where the first of them begins, in bytes from the view's start, or -1 when
//       none was advised (the view holds no aligned 2 MiB, or the kernel has no THP).
//
// Version history: 1 appendAndSync, fallocate. 2 adds flock, funlock (stratadb took flock(2)
// from fs-ext before). 3 adds readBlock, readBlockAsync. 4 adds decommit. 5 adds
// mapFile, unmapFile, readMappedBlock, scratchBuffer. 6 adds hugePages. 7 adds
// skipListView, encodeSkipListBlock, seekMappedBlock. 8 adds compressLz4. 9 adds releaseMapped.
// 10 adds searchSkipList. 11 adds packView. 12 adds appendToSkipList, trimMemory. 13 adds
// blockSlots, setBlockSlot, tableSearch, tableGet. 14 adds buildBloomFilter. 15 adds tableWalk,
// tablesGet. 16 adds decodeIndexBlock, prefaultMapped. 17 adds mergeView, mergeFill. 18 adds
// readBlockAsync's `into`, moveWithinAsync. 19: tableWalk's `ends` (a walk over every level).
// 20: readBlockAsync's contents of their own come as a LoadedBlock; adds adoptBlock.
//
// Measured and removed (README, "Native addon"): sync_file_range(2) while writing tables and
// posix_fadvise(2) on compaction inputs showed no gain here.
//
// Errors are Error objects carrying `errno` (the positive errno number) and `syscall`; a
// rejected appendAndSync also carries `written`, the bytes written before the failure. The
// JavaScript side maps errno numbers to names: no message text is meant to be matched.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "block_read.h"
#include "bloom_build.h"
#include "compaction_merge.h"
#include "index_decode.h"
#include "lz4_compress.h"
#include "skiplist_blocks.h"
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include "skiplist_append.h"
#include "skiplist_search.h"
#include "table_get.h"

#define ABI_VERSION 20

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "stratadb_io: " #call " failed");   \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static napi_value errno_error(napi_env env, int err, const char* syscall) {
  napi_value message, error, value;
  napi_create_string_utf8(env, strerror(err), NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  napi_create_int32(env, err, &value);
  napi_set_named_property(env, error, "errno", value);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, error, "syscall", value);
  return error;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, NULL, "stratadb_io: too few arguments");
    return 0;
  }
  return 1;
}

static int get_i64(napi_env env, napi_value v, int64_t* out) {
  if (napi_get_value_int64(env, v, out) != napi_ok || *out < 0) {
    napi_throw_type_error(env, NULL, "stratadb_io: expected a non-negative integer");
    return 0;
  }
  return 1;
}

// One asynchronous job: a group write-and-sync, or an fallocate.
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref keep_alive;  // the chunks array, so that its buffers outlive the job
  int fd;
  int64_t offset;
  int64_t length;  // fallocate only
  struct iovec* iov;
  int iov_count;
  int64_t written;
  int err;
  const char* failed_call;
} Job;

static void run_append_and_sync(napi_env env, void* data) {
  (void)env;
  Job* job = data;
  struct iovec* iov = job->iov;
  int left = job->iov_count;
  while (left > 0) {
    ssize_t n = pwritev(job->fd, iov, left < IOV_MAX ? left : IOV_MAX, job->offset + job->written);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      job->err = n < 0 ? errno : EIO;  // no progress on a regular file: give up, do not spin
      job->failed_call = "pwritev";
      return;
    }
    job->written += n;
    while (left > 0 && (size_t)n >= iov->iov_len) {
      n -= (ssize_t)iov->iov_len;
      iov++;
      left--;
    }
    if (left > 0) {
      iov->iov_base = (char*)iov->iov_base + n;
      iov->iov_len -= (size_t)n;
    }
  }
  if (fdatasync(job->fd) != 0) {
    job->err = errno;
    job->failed_call = "fdatasync";
  }
}

static void run_fallocate(napi_env env, void* data) {
  (void)env;
  Job* job = data;
  int rc;
  do rc = fallocate(job->fd, 0, job->offset, job->length);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    job->err = errno;
    job->failed_call = "fallocate";
  }
}

static void complete(napi_env env, napi_status status, void* data) {
  Job* job = data;
  if (status != napi_ok && job->err == 0) {
    job->err = ECANCELED;
    job->failed_call = "async work";
  }
  napi_value result;
  if (job->err != 0) {
    result = errno_error(env, job->err, job->failed_call);
    napi_value written;
    napi_create_int64(env, job->written, &written);
    napi_set_named_property(env, result, "written", written);
    napi_reject_deferred(env, job->deferred, result);
  } else {
    napi_create_int64(env, job->written, &result);
    napi_resolve_deferred(env, job->deferred, result);
  }
  if (job->keep_alive != NULL) napi_delete_reference(env, job->keep_alive);
  napi_delete_async_work(env, job->work);
  free(job->iov);
  free(job);
}

static napi_value queue(napi_env env, Job* job, const char* name, napi_async_execute_callback run) {
  napi_value promise, resource_name;
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_create_async_work(env, NULL, resource_name, run, complete, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    // Nothing was queued: undo and throw (a bug or out of memory, not an I/O error).
    if (job->keep_alive != NULL) napi_delete_reference(env, job->keep_alive);
    free(job->iov);
    free(job);
    napi_throw_error(env, NULL, "stratadb_io: could not queue async work");
    return NULL;
  }
  return promise;
}

static napi_value append_and_sync(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd;
  int64_t position;
  uint32_t count;
  bool is_array;
  if (!get_args(env, info, 3, argv)) return NULL;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_is_array(env, argv[1], &is_array));
  if (!is_array) {
    napi_throw_type_error(env, NULL, "stratadb_io: chunks must be an array");
    return NULL;
  }
  CHECK(napi_get_array_length(env, argv[1], &count));
  if (!get_i64(env, argv[2], &position)) return NULL;
  Job* job = calloc(1, sizeof(Job));
  struct iovec* iov = calloc(count > 0 ? count : 1, sizeof(struct iovec));
  if (job == NULL || iov == NULL) {
    free(job);
    free(iov);
    napi_throw_error(env, NULL, "stratadb_io: out of memory");
    return NULL;
  }
  job->fd = fd;
  job->offset = position;
  job->iov = iov;
  for (uint32_t i = 0; i < count; i++) {
    napi_value chunk;
    bool is_typedarray = false;
    napi_typedarray_type type;
    size_t length;
    void* bytes = NULL;
    if (napi_get_element(env, argv[1], i, &chunk) != napi_ok ||
        napi_is_typedarray(env, chunk, &is_typedarray) != napi_ok || !is_typedarray ||
        napi_get_typedarray_info(env, chunk, &type, &length, &bytes, NULL, NULL) != napi_ok ||
        type != napi_uint8_array) {
      free(iov);
      free(job);
      napi_throw_type_error(env, NULL, "stratadb_io: every chunk must be a Uint8Array");
      return NULL;
    }
    if (length == 0) continue;
    iov[job->iov_count].iov_base = bytes;
    iov[job->iov_count].iov_len = length;
    job->iov_count++;
  }
  if (napi_create_reference(env, argv[1], 1, &job->keep_alive) != napi_ok) {
    free(iov);
    free(job);
    napi_throw_error(env, NULL, "stratadb_io: could not reference the chunks");
    return NULL;
  }
  return queue(env, job, "stratadb.appendAndSync", run_append_and_sync);
}

static napi_value fallocate_js(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd;
  int64_t offset, length;
  if (!get_args(env, info, 3, argv)) return NULL;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  if (!get_i64(env, argv[1], &offset) || !get_i64(env, argv[2], &length)) return NULL;
  Job* job = calloc(1, sizeof(Job));
  if (job == NULL) {
    napi_throw_error(env, NULL, "stratadb_io: out of memory");
    return NULL;
  }
  job->fd = fd;
  job->offset = offset;
  job->length = length;
  return queue(env, job, "stratadb.fallocate", run_fallocate);
}

// flock(2) with `operation`, retried on EINTR; throws an errno error on failure. Synchronous:
// LOCK_NB and LOCK_UN return at once, so a thread-pool trip would cost more than the call.
static napi_value flock_call(napi_env env, napi_callback_info info, int operation) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv)) return NULL;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  int rc;
  do rc = flock(fd, operation);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    napi_throw(env, errno_error(env, errno, "flock"));
    return NULL;
  }
  return NULL;
}

static napi_value flock_js(napi_env env, napi_callback_info info) {
  return flock_call(env, info, LOCK_EX | LOCK_NB);
}

static napi_value funlock_js(napi_env env, napi_callback_info info) {
  return flock_call(env, info, LOCK_UN);
}

// madvise(2) `advice` on the whole units of `unit` bytes (a power of two) strictly inside the
// typed array argv[0]'s memory: never an allocator's bytes around it. The bytes advised (and in
// *first, where they begin, from the view's start; untouched when none), or NULL with an
// exception pending.
static napi_value advise_inside(napi_env env, napi_callback_info info, uintptr_t unit, int advice, double* first) {
  napi_value argv[1], result;
  napi_typedarray_type type;
  size_t length, offset;
  void* data;
  if (!get_args(env, info, 1, argv)) return NULL;
  CHECK(napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, &offset));
  size_t element = type == napi_uint8_array || type == napi_int8_array || type == napi_uint8_clamped_array ? 1
                   : type == napi_int16_array || type == napi_uint16_array                              ? 2
                   : type == napi_int32_array || type == napi_uint32_array || type == napi_float32_array ? 4
                                                                                                          : 8;
  uintptr_t begin = ((uintptr_t)data + unit - 1) & ~(unit - 1);
  uintptr_t end = ((uintptr_t)data + length * element) & ~(unit - 1);
  double advised = 0;
  if (data != NULL && end > begin) {
    if (madvise((void*)begin, end - begin, advice) != 0) {
      napi_throw(env, errno_error(env, errno, "madvise"));
      return NULL;
    }
    advised = (double)(end - begin);
    *first = (double)(begin - (uintptr_t)data);
  }
  CHECK(napi_create_double(env, advised, &result));
  return result;
}

// Free memory inside glibc's malloc arenas goes back to the kernel. Buffers (a table's index
// and filter blocks, a block read on the thread pool) are malloc'd by whichever thread made
// them and freed when V8 collects them, in the middle of their arena: glibc returns an arena's
// memory only from its top, so the free pages stayed resident. At the peak of a 20M-put
// `sustained` run's compactRange() two thread arenas held 43-62 MB each; trimmed every 250 ms
// the peak fell from 432-461 MB to 408 MB. malloc_trim(0) also gives back whole free pages in
// the middle of each arena (madvise MADV_DONTNEED), taking each arena's lock for the while.
static napi_value trim_memory_js(napi_env env, napi_callback_info info) {
  (void)info;
#ifdef __GLIBC__
  malloc_trim(0);
#endif
  napi_value result;
  CHECK(napi_get_undefined(env, &result));
  return result;
}

// The memory of a pooled memtable (src/memtable/pool.ts) that V8 would free only after a major
// collection: its pages go back to the kernel, its address range stays the buffer's. Only whole
// pages strictly inside the view are touched, never an allocator's bytes around it.
static napi_value decommit_js(napi_env env, napi_callback_info info) {
  double first = 0;
  return advise_inside(env, info, (uintptr_t)sysconf(_SC_PAGESIZE), MADV_DONTNEED, &first);
}

// Large buffers written once from start to end (memtable memory, ingest packs): here a 4 KiB
// page's first touch cost about 11 us (a fault per page; a virtual machine's nested paging),
// a transparent huge page's about 180 us for 512 times the memory. The kernel may still give
// small pages (no free huge page, THP off): only the speed differs. EINVAL (a kernel without
// THP) is not an error: nothing is advised.
static napi_value huge_pages_js(napi_env env, napi_callback_info info) {
  napi_value result;
  double first = -1;
#ifdef MADV_HUGEPAGE
  if (advise_inside(env, info, (uintptr_t)2 << 20, MADV_HUGEPAGE, &first) == NULL) {
    bool pending = false;
    napi_value err, errno_value;
    int32_t code = 0;
    if (napi_is_exception_pending(env, &pending) != napi_ok || !pending || napi_get_and_clear_last_exception(env, &err) != napi_ok) return NULL;
    if (napi_get_named_property(env, err, "errno", &errno_value) != napi_ok || napi_get_value_int32(env, errno_value, &code) != napi_ok || code != EINVAL) {
      napi_throw(env, err);
      return NULL;
    }
  }
#else
  (void)info;
#endif
  CHECK(napi_create_double(env, first, &result));
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn, version;
  CHECK(napi_create_int32(env, ABI_VERSION, &version));
  CHECK(napi_set_named_property(env, exports, "abiVersion", version));
  CHECK(napi_create_function(env, "appendAndSync", NAPI_AUTO_LENGTH, append_and_sync, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "appendAndSync", fn));
  CHECK(napi_create_function(env, "fallocate", NAPI_AUTO_LENGTH, fallocate_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "fallocate", fn));
  CHECK(napi_create_function(env, "flock", NAPI_AUTO_LENGTH, flock_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "flock", fn));
  CHECK(napi_create_function(env, "funlock", NAPI_AUTO_LENGTH, funlock_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "funlock", fn));
  CHECK(napi_create_function(env, "readBlock", NAPI_AUTO_LENGTH, read_block_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "readBlock", fn));
  CHECK(napi_create_function(env, "readBlockAsync", NAPI_AUTO_LENGTH, read_block_async_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "readBlockAsync", fn));
  CHECK(napi_create_function(env, "adoptBlock", NAPI_AUTO_LENGTH, adopt_block_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "adoptBlock", fn));
  CHECK(napi_create_function(env, "moveWithinAsync", NAPI_AUTO_LENGTH, move_within_async_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "moveWithinAsync", fn));
  CHECK(napi_create_function(env, "mapFile", NAPI_AUTO_LENGTH, map_file_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "mapFile", fn));
  CHECK(napi_create_function(env, "unmapFile", NAPI_AUTO_LENGTH, unmap_file_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "unmapFile", fn));
  CHECK(napi_create_function(env, "readMappedBlock", NAPI_AUTO_LENGTH, read_mapped_block_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "readMappedBlock", fn));
  CHECK(napi_create_function(env, "seekMappedBlock", NAPI_AUTO_LENGTH, seek_mapped_block_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "seekMappedBlock", fn));
  CHECK(napi_create_function(env, "blockSlots", NAPI_AUTO_LENGTH, block_slots_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "blockSlots", fn));
  CHECK(napi_create_function(env, "setBlockSlot", NAPI_AUTO_LENGTH, set_block_slot_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "setBlockSlot", fn));
  CHECK(napi_create_function(env, "tableSearch", NAPI_AUTO_LENGTH, table_search_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "tableSearch", fn));
  CHECK(napi_create_function(env, "tableGet", NAPI_AUTO_LENGTH, table_get_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "tableGet", fn));
  CHECK(napi_create_function(env, "decodeIndexBlock", NAPI_AUTO_LENGTH, decode_index_block_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "decodeIndexBlock", fn));
  CHECK(napi_create_function(env, "prefaultMapped", NAPI_AUTO_LENGTH, prefault_mapped_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "prefaultMapped", fn));
  CHECK(napi_create_function(env, "tableWalk", NAPI_AUTO_LENGTH, table_walk_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "tableWalk", fn));
  CHECK(napi_create_function(env, "tablesGet", NAPI_AUTO_LENGTH, tables_get_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "tablesGet", fn));
  CHECK(napi_create_function(env, "scratchBuffer", NAPI_AUTO_LENGTH, scratch_buffer_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "scratchBuffer", fn));
  CHECK(napi_create_function(env, "trimMemory", NAPI_AUTO_LENGTH, trim_memory_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "trimMemory", fn));
  CHECK(napi_create_function(env, "decommit", NAPI_AUTO_LENGTH, decommit_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "decommit", fn));
  CHECK(napi_create_function(env, "hugePages", NAPI_AUTO_LENGTH, huge_pages_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "hugePages", fn));
  CHECK(napi_create_function(env, "skipListView", NAPI_AUTO_LENGTH, skip_list_view_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "skipListView", fn));
  CHECK(napi_create_function(env, "packView", NAPI_AUTO_LENGTH, pack_view_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "packView", fn));
  CHECK(napi_create_function(env, "encodeSkipListBlock", NAPI_AUTO_LENGTH, encode_skip_list_block_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "encodeSkipListBlock", fn));
  CHECK(napi_create_function(env, "releaseMapped", NAPI_AUTO_LENGTH, release_mapped_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "releaseMapped", fn));
  CHECK(napi_create_function(env, "compressLz4", NAPI_AUTO_LENGTH, compress_lz4_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "compressLz4", fn));
  CHECK(napi_create_function(env, "buildBloomFilter", NAPI_AUTO_LENGTH, build_bloom_filter_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "buildBloomFilter", fn));
  CHECK(napi_create_function(env, "searchSkipList", NAPI_AUTO_LENGTH, search_skip_list_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "searchSkipList", fn));
  CHECK(napi_create_function(env, "mergeView", NAPI_AUTO_LENGTH, merge_view_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "mergeView", fn));
  CHECK(napi_create_function(env, "mergeFill", NAPI_AUTO_LENGTH, merge_fill_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "mergeFill", fn));
  CHECK(napi_create_function(env, "appendToSkipList", NAPI_AUTO_LENGTH, append_to_skip_list_js, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "appendToSkipList", fn));
  return exports;
}
