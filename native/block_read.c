// readBlock: one table block read, checked and decompressed in one call on the calling thread,
// for src/sstable/physical-block.ts (the owner of the block frame, which documents it):
//
//   frame := payload[size] | compression u8 | checksum u32 LE,  checksum := xxh32(payload ++ compression)
//   compression `lz4`: payload := contentsLength u32 LE | LZ4 block
//
// readBlock(fd, offset, size, noneCode, lz4Code, maxContents) → Buffer | string
//   pread(2) of the frame at `offset`; xxh32 over payload and compression byte, compared with
//   the stored checksum before any byte is used; then the contents: a copy of the payload
//   (compression `noneCode`) or its LZ4 block decompressed (compression `lz4Code`) straight
//   into the returned Buffer. A check that fails returns a string saying what failed (the
//   caller makes it a CORRUPTION naming file and offset); a failed pread throws an errno error.
//   The compression codes and the length bound come from the caller, so that the format's
//   numbers are written down once, in TypeScript.
//
// readBlockAsync(fd, offset, size, noneCode, lz4Code, maxContents, into?) → Promise<LoadedBlock | number | string>
//   The same, as one job on libuv's thread pool (for blocks of megabytes: get() of a large
//   value): read, checksum and decompression all off the main thread. The contents are
//   memory of their own (big_alloc: huge pages from 1 MiB on) handed to JavaScript as an
//   external Buffer, which V8 counts towards its
//   external memory itself, as it counts every ArrayBuffer's backing store (its
//   ArrayBufferSweeper), so that the garbage collector frees it in time. Counting it here too
//   (napi_adjust_external_memory, as this did) counted it twice: readlarge's gets of 1-64 MiB
//   values ran 50 full collections instead of 29, each a pause of 5-23 ms.
//   With `into` (a Uint8Array the caller holds, getInto's target) and contents that fit it,
//   they are written there instead and the promise resolves to their length: nothing of the
//   job's own reaches JavaScript, nothing for the collector to count. `into` must not be
//   read, written or transferred until the promise settles (as fs.read's buffer).
//   Contents of their own resolve to a LoadedBlock (an external), not yet a Buffer: see
//   adoptBlock.
//
// adoptBlock(loaded) → Buffer
//   readBlockAsync's LoadedBlock made the external Buffer of its contents (once; a second call
//   throws). Making the Buffer is what tells V8 of the memory, and that is where a collection
//   starts (its incremental marking, about 0.3-5 ms here, the previous collection's array
//   buffers swept first); marking then runs on V8's helper threads, and the finalization is a
//   task V8 posts to the event loop. Made in the job's completion, the Buffer's start and that
//   task ran in one pass of the loop's poll phase (the thread pool's completions and V8's tasks
//   are both async handles, which libuv serves together), and a 1 ms timer waited for both
//   pauses at once (readlarge: 12.3-22.8 ms, median 15.6, ten runs). The caller adopts it on a
//   later turn (a setImmediate: the check phase), so that the loop's timers run before V8's
//   finalization does: 9.1-19.0 ms, median 14.0, in ten runs interleaved with those. A
//   LoadedBlock never adopted frees its contents when collected.
//
// mapFile(fd, length) → MappedFile (an external)         unmapFile(mapped) → undefined
//   mmap(2) of a table file, read-only and shared, and its munmap(2) (also done by the
//   garbage collector if the owner never calls unmapFile). The mapping outlives the file's
//   name: a table deleted while mapped stays readable until unmapped.
//
// readMappedBlock(mapped, offset, size, noneCode, lz4Code, maxContents) → number | string
//   readBlock's checks and decompression from the mapping (no system call), into this
//   thread's scratch buffer (scratchBuffer()) instead of a new Buffer: returns the contents'
//   length, -1 when they would not fit in the scratch buffer (the caller reads the block with
//   readBlock instead), or what failed as text. The contents stay there until the next call
//   on this thread. For point reads that take one entry out of a block and let it go.
//
// scratchBuffer() → ArrayBuffer
//   This thread's scratch buffer (SCRATCH_BYTES), the same one on every call: the Node-API
//   instance data of this addon (one per thread that loads it).
//
// Why native: on a block-cache miss of a 4 KiB block, readSync + Buffer + xxh32 (WebAssembly,
// which copies its input first) + lz4-napi's uncompressSync cost about 12 µs on the main
// thread here, 7 of them in uncompressSync's call overhead; this call does the same work in
// one crossing.

#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <uv.h>

#include "block_read.h"
#include "bytes.h"

// Frames up to this size are read into a buffer on the stack; larger ones into malloc'd memory.
#define STACK_FRAME_BYTES (64 * 1024)
#define TRAILER_BYTES 5
// Bytes of a mapped frame prefetched before its checksum is computed (mapped_frame).
#define PREFETCH_BYTES (16 * 1024)


// XXH32 as specified by the xxHash project (the same numbers as src/base/checksum.ts).
#define P1 2654435761U
#define P2 2246822519U
#define P3 3266489917U
#define P4 668265263U
#define P5 374761393U
static uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }
static uint32_t round32(uint32_t acc, uint32_t lane) { return rotl32(acc + lane * P2, 13) * P1; }

uint32_t xxh32(const uint8_t* p, size_t len, uint32_t seed) {
  const uint8_t* end = p + len;
  uint32_t h;
  if (len >= 16) {
    uint32_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;
    const uint8_t* limit = end - 16;
    do {
      v1 = round32(v1, rd32(p));
      v2 = round32(v2, rd32(p + 4));
      v3 = round32(v3, rd32(p + 8));
      v4 = round32(v4, rd32(p + 12));
      p += 16;
    } while (p <= limit);
    h = rotl32(v1, 1) + rotl32(v2, 7) + rotl32(v3, 12) + rotl32(v4, 18);
  } else {
    h = seed + P5;
  }
  h += (uint32_t)len;
  for (; p + 4 <= end; p += 4) h = rotl32(h + rd32(p) * P3, 17) * P4;
  for (; p < end; p++) h = rotl32(h + (*p) * P5, 11) * P1;
  h ^= h >> 15;
  h *= P2;
  h ^= h >> 13;
  h *= P3;
  h ^= h >> 16;
  return h;
}

// Decodes an LZ4 block (the LZ4 block format: sequences of token, literals, offset, match)
// into dst. Every read and write is bounds-checked: damaged input returns -1, never reads or
// writes outside the two buffers. Returns the bytes written.
//
// Far from both ends (FAST_MARGIN bytes of input and output left), a sequence of at most 14
// literals is copied as 16 bytes and a match of at most 18 bytes at least 8 back as 24: fixed
// sizes the compiler turns into a few loads and stores instead of two calls to memcpy. They may
// write past the sequence, never past the buffer, and the bytes after it are written again
// before the end (the output must fill dst exactly, which the caller checks).
#define FAST_MARGIN 40
static int64_t lz4_decode(const uint8_t* src, size_t src_len, uint8_t* dst, size_t dst_cap) {
  const uint8_t* ip = src;
  const uint8_t* const iend = src + src_len;
  uint8_t* op = dst;
  uint8_t* const oend = dst + dst_cap;
  for (;;) {
    if (ip >= iend) return -1;
    unsigned token = *ip++;
    size_t literals = token >> 4;
    if (literals < 15 && (size_t)(iend - ip) >= FAST_MARGIN && (size_t)(oend - op) >= FAST_MARGIN) {
      memcpy(op, ip, 16);
      op += literals;
      ip += literals;
      size_t offset = (size_t)ip[0] | ((size_t)ip[1] << 8);
      size_t match = token & 15;
      if (match < 15 && offset >= 8 && offset <= (size_t)(op - dst)) {
        ip += 2;
        const uint8_t* from = op - offset;
        memcpy(op, from, 8);
        memcpy(op + 8, from + 8, 8);
        memcpy(op + 16, from + 16, 8);
        op += match + 4;
        continue;
      }
    } else {
      if (literals == 15) {
        unsigned s;
        do {
          if (ip >= iend) return -1;
          s = *ip++;
          literals += s;
        } while (s == 255);
      }
      if ((size_t)(iend - ip) < literals || (size_t)(oend - op) < literals) return -1;
      memcpy(op, ip, literals);
      op += literals;
      ip += literals;
      if (ip == iend) break;  // the last sequence ends after its literals
    }
    if (iend - ip < 2) return -1;
    size_t offset = (size_t)ip[0] | ((size_t)ip[1] << 8);
    ip += 2;
    if (offset == 0 || offset > (size_t)(op - dst)) return -1;
    size_t match = token & 15;
    if (match == 15) {
      unsigned s;
      do {
        if (ip >= iend) return -1;
        s = *ip++;
        match += s;
      } while (s == 255);
    }
    match += 4;
    if ((size_t)(oend - op) < match) return -1;
    const uint8_t* from = op - offset;
    if (offset >= match) {
      memcpy(op, from, match);
      op += match;
    } else {
      // The match overlaps the bytes it produces: a pattern of period `offset`. Copy it from
      // `from` in chunks that never overlap their source, each as long as everything written
      // since `from` (so a multiple of the period, and doubling): log(match / offset) copies.
      while (match > 0) {
        size_t n = (size_t)(op - from);
        if (n > match) n = match;
        memcpy(op, from, n);
        op += n;
        match -= n;
      }
    }
  }
  return op - dst;
}

static napi_value failure(napi_env env, const char* what) {
  napi_value s;
  if (napi_create_string_utf8(env, what, NAPI_AUTO_LENGTH, &s) != napi_ok) return NULL;
  return s;
}

static napi_value errno_error(napi_env env, int err) {
  napi_value message, error, value;
  napi_create_string_utf8(env, strerror(err), NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  napi_create_int32(env, err, &value);
  napi_set_named_property(env, error, "errno", value);
  napi_create_string_utf8(env, "pread", NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, error, "syscall", value);
  return error;
}

// Checks a whole frame's checksum, then its compression and the length its contents declare:
// NULL, with the contents' length in *contents_len and whether they are an LZ4 block in *lz4
// (else the payload itself), or what failed (a literal, or `what` written). No byte of the
// payload is used before the checksum matched.
static const char* check_frame(const uint8_t* frame, size_t size, uint32_t none_code, uint32_t lz4_code, int64_t max_contents, size_t* contents_len,
                               int* lz4, char* what, size_t what_len) {
  if (xxh32(frame, size + 1, 0) != rd32(frame + size + 1)) return "checksum mismatch";
  uint32_t compression = frame[size];
  if (compression == none_code) {
    *lz4 = 0;
    *contents_len = size;
    return NULL;
  }
  if (compression != lz4_code) {
    snprintf(what, what_len, "has unknown compression %u", compression);
    return what;
  }
  if (size < 4 || (int64_t)rd32(frame) > max_contents) return "declares an impossible length";
  *lz4 = 1;
  *contents_len = rd32(frame);
  return NULL;
}

// The contents of a frame check_frame() passed into dst (contents_len bytes): NULL, or what failed.
static const char* decode_frame(const uint8_t* frame, size_t size, int lz4, uint8_t* dst, size_t contents_len, char* what, size_t what_len) {
  if (!lz4) {
    memcpy(dst, frame, contents_len);
    return NULL;
  }
  int64_t n = lz4_decode(frame + 4, size - 4, dst, contents_len);
  if (n < 0) return "does not decompress";
  if ((size_t)n != contents_len) {
    snprintf(what, what_len, "decompressed to %lld bytes, not %zu", (long long)n, contents_len);
    return what;
  }
  return NULL;
}

// Checks the frame and makes the contents Buffer (or the failure string).
static napi_value contents_of(napi_env env, const uint8_t* frame, size_t size, uint32_t none_code, uint32_t lz4_code, int64_t max_contents) {
  char what[96];
  size_t contents;
  int lz4;
  const char* bad = check_frame(frame, size, none_code, lz4_code, max_contents, &contents, &lz4, what, sizeof what);
  if (bad != NULL) return failure(env, bad);
  napi_value out;
  void* data;
  if (napi_create_buffer(env, contents, &data, &out) != napi_ok) return NULL;
  bad = decode_frame(frame, size, lz4, data, contents, what, sizeof what);
  return bad != NULL ? failure(env, bad) : out;
}

napi_value read_block_js(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  size_t argc = 6;
  int32_t fd;
  int64_t offset, size, max_contents;
  uint32_t none_code, lz4_code;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int64(env, argv[1], &offset) != napi_ok || napi_get_value_int64(env, argv[2], &size) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &none_code) != napi_ok || napi_get_value_uint32(env, argv[4], &lz4_code) != napi_ok ||
      napi_get_value_int64(env, argv[5], &max_contents) != napi_ok || offset < 0 || size < 0 || size > INT32_MAX) {
    napi_throw_type_error(env, NULL, "stratadb_io: readBlock(fd, offset, size, noneCode, lz4Code, maxContents)");
    return NULL;
  }
  size_t frame_bytes = (size_t)size + TRAILER_BYTES;
  uint8_t stack_frame[STACK_FRAME_BYTES];
  uint8_t* frame = frame_bytes <= sizeof stack_frame ? stack_frame : malloc(frame_bytes);
  if (frame == NULL) {
    napi_throw_error(env, NULL, "stratadb_io: out of memory");
    return NULL;
  }
  size_t done = 0;
  while (done < frame_bytes) {
    ssize_t n = pread(fd, frame + done, frame_bytes - done, offset + (off_t)done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      if (frame != stack_frame) free(frame);
      napi_throw(env, errno_error(env, err));
      return NULL;
    }
    if (n == 0) break;
    done += (size_t)n;
  }
  napi_value result;
  if (done < frame_bytes) {
    char what[64];
    snprintf(what, sizeof what, "of %lld bytes runs past the end of the file", (long long)size);
    result = failure(env, what);
  } else {
    result = contents_of(env, frame, (size_t)size, none_code, lz4_code, max_contents);
  }
  if (frame != stack_frame) free(frame);
  return result;
}

// ---- readBlockAsync ----

// The memory of a large block (its frame as read, and its contents): from BIG_BYTES on, a
// mapping of its own advised to be transparent huge pages, its bytes beginning just past a
// 2 MiB boundary (a huge page needs a whole aligned 2 MiB of the mapping). Each first write of
// a fresh 4 KiB page is a page fault, about 11 us on this project's test machine (a virtual
// machine's nested paging): 64 MiB of contents cost the pool thread about 200 ms of faults,
// where a huge page is one fault for 512 pages: a 64 MiB get 23-25 ms instead of 280-286,
// readlarge 1,352-1,937 MB/s instead of 240-247. Below BIG_BYTES, malloc. (malloc itself maps blocks of megabytes as 4 KiB pages, and
// maps them afresh for every read once nothing larger raises its mapping threshold.)
// A header at the start of the bytes' huge page holds the mapping's start and length.
#define BIG_BYTES ((size_t)1 << 20)
#define HUGE_BYTES ((size_t)2 << 20)
#define BIG_HEADER ((size_t)64)

static uint8_t* big_alloc(size_t n) {
  if (n < BIG_BYTES) return malloc(n > 0 ? n : 1);
  // Whole huge pages from the aligned start (a part of one is not given a huge page), and
  // room to align it.
  size_t huge = (n + BIG_HEADER + HUGE_BYTES - 1) & ~(HUGE_BYTES - 1);
  size_t total = huge + HUGE_BYTES;
  void* raw = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return NULL;
  uint8_t* aligned = (uint8_t*)(((uintptr_t)raw + HUGE_BYTES - 1) & ~(uintptr_t)(HUGE_BYTES - 1));
#ifdef MADV_HUGEPAGE
  madvise(aligned, huge, MADV_HUGEPAGE);
#endif
  ((void**)aligned)[0] = raw;
  ((size_t*)aligned)[1] = total;
  return aligned + BIG_HEADER;
}

/** Frees what big_alloc(`n`) returned (the same `n`). */
static void big_free(void* p, size_t n) {
  if (p == NULL) return;
  if (n < BIG_BYTES) {
    free(p);
    return;
  }
  uint8_t* aligned = (uint8_t*)p - BIG_HEADER;
  munmap(((void**)aligned)[0], ((size_t*)aligned)[1]);
}

/** Rejects `deferred` with an Error of `message`: a thread-pool job that never ran (cancelled). */
static void reject_cancelled(napi_env env, napi_deferred deferred, const char* message) {
  napi_value text, error;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, NULL, text, &error);
  napi_reject_deferred(env, deferred, error);
}

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int fd;
  int64_t offset, size, max_contents;
  uint32_t none_code, lz4_code;
  // The caller's buffer to hold the contents when they fit (readBlockAsync's `into`), or NULL;
  // referenced until the job completes.
  uint8_t* into;
  size_t into_len;
  napi_ref into_ref;
  // Results: contents (big_alloc'd, owned until handed to JavaScript, or `into`), or a
  // failure, or an errno.
  uint8_t* contents;
  size_t contents_len;
  // The allocation `contents` points into (the frame itself for an uncompressed block), and
  // the size it was allocated with (big_alloc's `n`).
  uint8_t* allocation;
  size_t allocation_len;
  char failure[96];
  int err;
} AsyncRead;

static void run_read_block(napi_env env, void* data) {
  (void)env;
  AsyncRead* job = data;
  size_t frame_bytes = (size_t)job->size + TRAILER_BYTES;
  uint8_t* frame = big_alloc(frame_bytes);
  if (frame == NULL) {
    job->err = ENOMEM;
    return;
  }
  size_t done = 0;
  while (done < frame_bytes) {
    ssize_t n = pread(job->fd, frame + done, frame_bytes - done, job->offset + (off_t)done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      job->err = errno;
      big_free(frame, frame_bytes);
      return;
    }
    if (n == 0) break;
    done += (size_t)n;
  }
  size_t size = (size_t)job->size;
  size_t contents;
  int lz4;
  const char* bad;
  if (done < frame_bytes) {
    snprintf(job->failure, sizeof job->failure, "of %lld bytes runs past the end of the file", (long long)job->size);
  } else if ((bad = check_frame(frame, size, job->none_code, job->lz4_code, job->max_contents, &contents, &lz4, job->failure, sizeof job->failure)) != NULL) {
    if (bad != job->failure) snprintf(job->failure, sizeof job->failure, "%s", bad);
  } else if (job->into != NULL && contents <= job->into_len) {
    // Into the caller's buffer: no memory of the job's own handed to JavaScript.
    if (!lz4) {
      memcpy(job->into, frame, size);
      job->contents = job->into;
      job->contents_len = size;
    } else if ((bad = decode_frame(frame, size, 1, job->into, contents, job->failure, sizeof job->failure)) != NULL) {
      if (bad != job->failure) snprintf(job->failure, sizeof job->failure, "%s", bad);
    } else {
      job->contents = job->into;
      job->contents_len = contents;
    }
  } else if (!lz4) {
    // The payload is the contents: hand the frame over as it is.
    job->contents = job->allocation = frame;
    job->allocation_len = frame_bytes;
    job->contents_len = size;
    return;
  } else {
    uint8_t* out = big_alloc(contents);
    if (out == NULL) {
      job->err = ENOMEM;
    } else if ((bad = decode_frame(frame, size, 1, out, contents, job->failure, sizeof job->failure)) != NULL) {
      if (bad != job->failure) snprintf(job->failure, sizeof job->failure, "%s", bad);
      big_free(out, contents);
    } else {
      job->contents = job->allocation = out;
      job->allocation_len = contents;
      job->contents_len = contents;
    }
  }
  big_free(frame, frame_bytes);
}

// Contents of this many bytes or more go back to the allocator on libuv's thread pool: a
// finalizer runs on the event loop's thread, and freeing 64 MiB (its pages unmapped) took
// 6-9 ms here, several of them after one garbage collection 20-30 ms.
#define FREE_IN_POOL_BYTES ((size_t)1 << 20)

typedef struct {
  uv_work_t req;
  void* data;
  size_t bytes;
} PoolFree;

static void run_pool_free(uv_work_t* req) {
  PoolFree* job = (PoolFree*)req;
  big_free(job->data, job->bytes);
}

static void complete_pool_free(uv_work_t* req, int status) {
  (void)status;
  free(req);
}

/** The finalizer of a large block's Buffer: `hint` is its allocation's size (big_alloc's `n`). */
static void free_contents(napi_env env, void* data, void* hint) {
  size_t bytes = (size_t)(intptr_t)hint;
  if (bytes >= FREE_IN_POOL_BYTES) {
    uv_loop_t* loop;
    PoolFree* job = malloc(sizeof *job);
    if (job != NULL && napi_get_uv_event_loop(env, &loop) == napi_ok) {
      job->data = data;
      job->bytes = bytes;
      if (uv_queue_work(loop, &job->req, run_pool_free, complete_pool_free) == 0) return;
    }
    free(job);
  }
  big_free(data, bytes);
}

// readBlockAsync's contents, until adoptBlock hands them to a Buffer (contents NULL after).
typedef struct {
  // The start of their allocation (AsyncRead's `allocation`), and its size (big_alloc's `n`).
  uint8_t* contents;
  size_t contents_len, allocation_len;
} LoadedBlock;

/** The finalizer of a LoadedBlock: its contents too when never adopted. */
static void free_loaded(napi_env env, void* data, void* hint) {
  (void)hint;
  LoadedBlock* loaded = data;
  if (loaded->contents != NULL) free_contents(env, loaded->contents, (void*)(intptr_t)loaded->allocation_len);
  free(loaded);
}

napi_value adopt_block_js(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  size_t argc = 1;
  void* data;
  napi_valuetype type;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_external ||
      napi_get_value_external(env, argv[0], &data) != napi_ok) {
    napi_throw_type_error(env, NULL, "stratadb_io: adoptBlock(loaded)");
    return NULL;
  }
  LoadedBlock* loaded = data;
  if (loaded->contents == NULL) {
    napi_throw_error(env, NULL, "stratadb_io: adoptBlock of a block already adopted");
    return NULL;
  }
  if (napi_create_external_buffer(env, loaded->contents_len, loaded->contents, free_contents, (void*)(intptr_t)loaded->allocation_len, &result) != napi_ok) {
    napi_throw_error(env, NULL, "stratadb_io: could not make the block's Buffer");
    return NULL;
  }
  loaded->contents = NULL;
  return result;
}

static void complete_read_block(napi_env env, napi_status status, void* data) {
  AsyncRead* job = data;
  napi_value result;
  if (status != napi_ok) {
    reject_cancelled(env, job->deferred, "stratadb_io: readBlockAsync was cancelled");
    big_free(job->allocation, job->allocation_len);
  } else if (job->err != 0) {
    napi_reject_deferred(env, job->deferred, errno_error(env, job->err));
  } else if (job->contents == NULL) {
    napi_create_string_utf8(env, job->failure, NAPI_AUTO_LENGTH, &result);
    napi_resolve_deferred(env, job->deferred, result);
  } else if (job->contents == job->into) {
    napi_create_double(env, (double)job->contents_len, &result);
    napi_resolve_deferred(env, job->deferred, result);
  } else {
    LoadedBlock* loaded = malloc(sizeof *loaded);
    if (loaded != NULL) {
      loaded->contents = job->contents;
      loaded->contents_len = job->contents_len;
      loaded->allocation_len = job->allocation_len;
    }
    if (loaded == NULL || napi_create_external(env, loaded, free_loaded, NULL, &result) != napi_ok) {
      free(loaded);
      big_free(job->allocation, job->allocation_len);
      napi_value message, error;
      napi_create_string_utf8(env, "stratadb_io: could not hand over the block read", NAPI_AUTO_LENGTH, &message);
      napi_create_error(env, NULL, message, &error);
      napi_reject_deferred(env, job->deferred, error);
    } else {
      napi_resolve_deferred(env, job->deferred, result);
    }
  }
  if (job->into_ref != NULL) napi_delete_reference(env, job->into_ref);
  napi_delete_async_work(env, job->work);
  free(job);
}

napi_value read_block_async_js(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  size_t argc = 7;
  AsyncRead* job = calloc(1, sizeof(AsyncRead));
  if (job == NULL) {
    napi_throw_error(env, NULL, "stratadb_io: out of memory");
    return NULL;
  }
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int64(env, argv[1], &job->offset) != napi_ok || napi_get_value_int64(env, argv[2], &job->size) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &job->none_code) != napi_ok || napi_get_value_uint32(env, argv[4], &job->lz4_code) != napi_ok ||
      napi_get_value_int64(env, argv[5], &job->max_contents) != napi_ok || job->offset < 0 || job->size < 0 || job->size > INT32_MAX) {
    free(job);
    napi_throw_type_error(env, NULL, "stratadb_io: readBlockAsync(fd, offset, size, noneCode, lz4Code, maxContents, into?)");
    return NULL;
  }
  napi_valuetype into_type = napi_undefined;
  if (argc >= 7 && napi_typeof(env, argv[6], &into_type) == napi_ok && into_type != napi_undefined) {
    job->into = typed_array_data(env, argv[6], napi_uint8_array, &job->into_len);
    if (job->into == NULL || napi_create_reference(env, argv[6], 1, &job->into_ref) != napi_ok) {
      free(job);
      napi_throw_type_error(env, NULL, "stratadb_io: readBlockAsync's into must be a Uint8Array");
      return NULL;
    }
  }
  job->fd = fd;
  napi_value promise, name;
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "stratadb.readBlockAsync", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, run_read_block, complete_read_block, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    if (job->into_ref != NULL) napi_delete_reference(env, job->into_ref);
    free(job);
    napi_throw_error(env, NULL, "stratadb_io: could not queue readBlockAsync");
    return NULL;
  }
  return promise;
}

// ---- moveWithinAsync ----
//
// moveWithinAsync(view, from, length) → Promise<void>
//   memmove(3) of view[from, from + length) to view's start, as one job on libuv's thread pool:
//   getInto's value of megabytes, read with its block into the caller's buffer (readBlockAsync's
//   `into`), moved to where the caller expects it without holding the event loop (64 MiB took
//   about 4 ms here). The view is referenced until the job completes.

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref view_ref;
  uint8_t* data;
  size_t from, length;
} AsyncMove;

static void run_move(napi_env env, void* data) {
  (void)env;
  AsyncMove* job = data;
  memmove(job->data, job->data + job->from, job->length);
}

static void complete_move(napi_env env, napi_status status, void* data) {
  AsyncMove* job = data;
  napi_value result;
  if (status != napi_ok) {
    reject_cancelled(env, job->deferred, "stratadb_io: moveWithinAsync was cancelled");
  } else {
    napi_get_undefined(env, &result);
    napi_resolve_deferred(env, job->deferred, result);
  }
  napi_delete_reference(env, job->view_ref);
  napi_delete_async_work(env, job->work);
  free(job);
}

napi_value move_within_async_js(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  size_t argc = 3;
  int64_t from, length;
  size_t view_length = 0;
  uint8_t* view = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
      (view = typed_array_data(env, argv[0], napi_uint8_array, &view_length)) == NULL || napi_get_value_int64(env, argv[1], &from) != napi_ok ||
      napi_get_value_int64(env, argv[2], &length) != napi_ok || from < 0 || length < 0 || (uint64_t)from + (uint64_t)length > view_length) {
    napi_throw_type_error(env, NULL, "stratadb_io: moveWithinAsync(view, from, length) with [from, from + length) inside the view");
    return NULL;
  }
  AsyncMove* job = calloc(1, sizeof(AsyncMove));
  if (job == NULL) {
    napi_throw_error(env, NULL, "stratadb_io: out of memory");
    return NULL;
  }
  job->data = view;
  job->from = (size_t)from;
  job->length = (size_t)length;
  napi_value promise, name;
  if (napi_create_reference(env, argv[0], 1, &job->view_ref) != napi_ok) {
    free(job);
    napi_throw_error(env, NULL, "stratadb_io: could not queue moveWithinAsync");
    return NULL;
  }
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "stratadb.moveWithinAsync", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, run_move, complete_move, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    napi_delete_reference(env, job->view_ref);
    free(job);
    napi_throw_error(env, NULL, "stratadb_io: could not queue moveWithinAsync");
    return NULL;
  }
  return promise;
}

// ---- mapFile, unmapFile, readMappedBlock, scratchBuffer ----


typedef struct {
  napi_ref buffer;
  uint8_t* data;
} Scratch;

static void finalize_mapping(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  Mapping* m = data;
  // No prefault job runs: each holds a reference to the handle.
  if (m->region != NULL) munmap(m->region, m->length);
  free(m);
}

static void finalize_scratch(napi_env env, void* data, void* hint) {
  (void)hint;
  Scratch* s = data;
  napi_delete_reference(env, s->buffer);
  free(s);
}

Mapping* mapping_arg(napi_env env, napi_value value) {
  void* data;
  if (napi_get_value_external(env, value, &data) != napi_ok) return NULL;
  return data;
}

napi_value map_file_js(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  size_t argc = 2;
  int32_t fd;
  int64_t length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int64(env, argv[1], &length) != napi_ok || length <= 0) {
    napi_throw_type_error(env, NULL, "stratadb_io: mapFile(fd, length)");
    return NULL;
  }
  Mapping* m = malloc(sizeof *m);
  if (m == NULL) {
    napi_throw_error(env, NULL, "stratadb_io: out of memory");
    return NULL;
  }
  void* base = mmap(NULL, (size_t)length, PROT_READ, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    int err = errno;
    free(m);
    napi_value error = errno_error(env, err);
    napi_value syscall;
    napi_create_string_utf8(env, "mmap", NAPI_AUTO_LENGTH, &syscall);
    napi_set_named_property(env, error, "syscall", syscall);
    napi_throw(env, error);
    return NULL;
  }
  m->base = m->region = base;
  m->length = (size_t)length;
  m->jobs = 0;
  m->stop = 0;
  if (napi_create_external(env, m, finalize_mapping, NULL, &result) != napi_ok) {
    munmap(base, (size_t)length);
    free(m);
    napi_throw_error(env, NULL, "stratadb_io: could not make the mapping's handle");
    return NULL;
  }
  return result;
}

napi_value unmap_file_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  size_t argc = 1;
  Mapping* m;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || (m = mapping_arg(env, argv[0])) == NULL) {
    napi_throw_type_error(env, NULL, "stratadb_io: unmapFile(mapped)");
    return NULL;
  }
  m->base = NULL;
  __atomic_store_n(&m->stop, 1, __ATOMIC_RELAXED);
  // A prefault job still reading it: its completion unmaps it.
  if (m->jobs == 0 && m->region != NULL) {
    munmap(m->region, m->length);
    m->region = NULL;
  }
  return NULL;
}

// prefaultMapped(mapped, start, end) → Promise<bytes>: on libuv's thread pool, one read of
// each page of the mapping in bytes [start, end) (start rounded down to a page) that the page
// cache holds (mincore(2)), so that the page-table entries exist before a read needs them: a
// read's first touch of a page costs a fault, 1.4-2.3 us a page on this kind of virtual
// machine (a freshly mapped table read at random) against 5-12 ns once mapped. Pages the page
// cache does not hold are not read (no disk reads). Resolves with the bytes of the pages it
// read. unmapFile while it runs makes it stop at its next page run; the mapping itself goes
// when it ends.
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref handle;
  Mapping* m;
  uint8_t* region;
  size_t start, end, touched;
  int err;
} Prefault;

static void run_prefault(napi_env env, void* data) {
  (void)env;
  Prefault* job = data;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t first = job->start / page, pages = (job->end + page - 1) / page - first;
  unsigned char* resident = malloc(pages > 0 ? pages : 1);
  if (resident == NULL) {
    job->err = ENOMEM;
    return;
  }
  uint8_t* at = job->region + first * page;
  if (mincore(at, job->end - first * page, resident) != 0) {
    job->err = errno;
    free(resident);
    return;
  }
  volatile uint8_t sink = 0;
  for (size_t i = 0; i < pages; i++) {
    if ((i & 255) == 0 && __atomic_load_n(&job->m->stop, __ATOMIC_RELAXED)) break;
    if ((resident[i] & 1) == 0) continue;
    sink ^= at[i * page];
    job->touched += page;
  }
  (void)sink;
  free(resident);
}

static void complete_prefault(napi_env env, napi_status status, void* data) {
  Prefault* job = data;
  Mapping* m = job->m;
  m->jobs--;
  if (m->jobs == 0 && m->base == NULL && m->region != NULL) {
    munmap(m->region, m->length);
    m->region = NULL;
  }
  napi_delete_reference(env, job->handle);
  napi_value result;
  if (status != napi_ok) {
    reject_cancelled(env, job->deferred, "stratadb_io: prefaultMapped was cancelled");
  } else if (job->err != 0) {
    napi_reject_deferred(env, job->deferred, errno_error(env, job->err));
  } else {
    napi_create_double(env, (double)job->touched, &result);
    napi_resolve_deferred(env, job->deferred, result);
  }
  napi_delete_async_work(env, job->work);
  free(job);
}

napi_value prefault_mapped_js(napi_env env, napi_callback_info info) {
  napi_value argv[3], promise, name;
  size_t argc = 3;
  Mapping* m;
  int64_t start, end;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 || (m = mapping_arg(env, argv[0])) == NULL ||
      napi_get_value_int64(env, argv[1], &start) != napi_ok || napi_get_value_int64(env, argv[2], &end) != napi_ok || start < 0 || end < start) {
    napi_throw_type_error(env, NULL, "stratadb_io: prefaultMapped(mapped, start, end)");
    return NULL;
  }
  Prefault* job = calloc(1, sizeof *job);
  if (job == NULL) {
    napi_throw_error(env, NULL, "stratadb_io: out of memory");
    return NULL;
  }
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok) {
    free(job);
    napi_throw_error(env, NULL, "stratadb_io: could not queue prefaultMapped");
    return NULL;
  }
  if ((size_t)end > m->length) end = (int64_t)m->length;
  if (m->base == NULL || start >= end) {
    // Unmapped, or nothing asked: nothing to read.
    napi_value zero;
    napi_create_double(env, 0, &zero);
    napi_resolve_deferred(env, job->deferred, zero);
    free(job);
    return promise;
  }
  job->m = m;
  job->region = m->region;
  job->start = (size_t)start;
  job->end = (size_t)end;
  if (napi_create_reference(env, argv[0], 1, &job->handle) != napi_ok ||
      napi_create_string_utf8(env, "stratadb.prefaultMapped", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, run_prefault, complete_prefault, job, &job->work) != napi_ok) {
    if (job->handle != NULL) napi_delete_reference(env, job->handle);
    free(job);
    napi_throw_error(env, NULL, "stratadb_io: could not queue prefaultMapped");
    return NULL;
  }
  m->jobs++;
  if (napi_queue_async_work(env, job->work) != napi_ok) {
    m->jobs--;
    napi_delete_reference(env, job->handle);
    napi_delete_async_work(env, job->work);
    free(job);
    napi_throw_error(env, NULL, "stratadb_io: could not queue prefaultMapped");
    return NULL;
  }
  return promise;
}

// releaseMapped(mapped, end) → bytes released: madvise(2) MADV_DONTNEED of the whole pages of
// the mapping below byte `end`. Their page-table entries go: they leave this process's resident
// set (they stay in the page cache, and a later read faults them back in). For a compaction's
// inputs, read once from start to end: touched pages of a mapping count in the resident set
// until it is unmapped, which made a compaction of 250 MB of inputs hold them all.
napi_value release_mapped_js(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  size_t argc = 2;
  Mapping* m;
  int64_t end;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || (m = mapping_arg(env, argv[0])) == NULL ||
      napi_get_value_int64(env, argv[1], &end) != napi_ok || end < 0) {
    napi_throw_type_error(env, NULL, "stratadb_io: releaseMapped(mapped, end)");
    return NULL;
  }
  if (napi_create_double(env, (double)release_mapped_below(m, (size_t)end), &result) != napi_ok) return NULL;
  return result;
}

size_t release_mapped_below(Mapping* m, size_t end) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t bytes = end < m->length ? end : m->length;
  bytes -= bytes % page;
  if (m->base == NULL || bytes == 0 || madvise(m->base, bytes, MADV_DONTNEED) != 0) bytes = 0;
  return bytes;
}

static Scratch* scratch_of(napi_env env) {
  Scratch* s = NULL;
  if (napi_get_instance_data(env, (void**)&s) == napi_ok && s != NULL) return s;
  s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  napi_value buffer;
  void* data;
  if (napi_create_arraybuffer(env, SCRATCH_BYTES, &data, &buffer) != napi_ok || napi_create_reference(env, buffer, 1, &s->buffer) != napi_ok) {
    free(s);
    return NULL;
  }
  s->data = data;
  if (napi_set_instance_data(env, s, finalize_scratch, NULL) != napi_ok) {
    napi_delete_reference(env, s->buffer);
    free(s);
    return NULL;
  }
  return s;
}

uint8_t* scratch_data(napi_env env) {
  Scratch* s = scratch_of(env);
  return s == NULL ? NULL : s->data;
}

napi_value scratch_buffer_js(napi_env env, napi_callback_info info) {
  (void)info;
  Scratch* s = scratch_of(env);
  napi_value buffer;
  if (s == NULL || napi_get_reference_value(env, s->buffer, &buffer) != napi_ok) {
    napi_throw_error(env, NULL, "stratadb_io: could not make the scratch buffer");
    return NULL;
  }
  return buffer;
}

/**
 * The frame of the mapped block at offset (a payload of `size` bytes), its checksum, compression
 * and declared length checked (check_frame): NULL with the frame, its contents' length and
 * whether they are an LZ4 block, or what failed (in `what` or a constant).
 */
static const char* mapped_frame(Mapping* m, int64_t offset, int64_t size, uint32_t none_code, uint32_t lz4_code, int64_t max_contents, const uint8_t** frame,
                                size_t* contents, int* lz4, char* what, size_t what_len) {
  size_t frame_bytes = (size_t)size + TRAILER_BYTES;
  if (m->base == NULL) return "is in a file no longer mapped";
  if (offset < 0 || size < 0 || (uint64_t)offset > m->length || frame_bytes > m->length - (size_t)offset) {
    snprintf(what, what_len, "of %lld bytes runs past the end of the file", (long long)size);
    return what;
  }
  *frame = m->base + offset;
  // A point read's block is rarely in the processor's caches: ask for all its lines at once
  // rather than one after another as the checksum reaches them (a 2 KiB frame read cold took
  // about 580 ns to checksum, 460 ns with this, in a loop over 67 MB here).
  size_t ahead = frame_bytes < PREFETCH_BYTES ? frame_bytes : PREFETCH_BYTES;
  for (size_t at = 0; at < ahead; at += 64) __builtin_prefetch(*frame + at);
  return check_frame(*frame, (size_t)size, none_code, lz4_code, max_contents, contents, lz4, what, what_len);
}

/**
 * The contents of the mapped block at offset (a payload of `size` bytes), checked and decoded
 * into the scratch buffer: NULL and *n its length (-1 when larger than the scratch buffer), or
 * what failed (in `what` or a constant).
 */
static const char* mapped_contents(Mapping* m, int64_t offset, int64_t size, uint32_t none_code, uint32_t lz4_code, int64_t max_contents, uint8_t* scratch,
                                   char* what, size_t what_len, int64_t* n) {
  const uint8_t* frame = NULL;
  size_t contents;
  int lz4;
  const char* bad = mapped_frame(m, offset, size, none_code, lz4_code, max_contents, &frame, &contents, &lz4, what, what_len);
  if (bad != NULL) return bad;
  *n = -1;
  if (contents <= SCRATCH_BYTES) {
    bad = decode_frame(frame, (size_t)size, lz4, scratch, contents, what, what_len);
    if (bad != NULL) return bad;
    *n = (int64_t)contents;
  }
  return NULL;
}

const char BLOCK_OUT_OF_MEMORY[] = "does not fit in memory";

const char* mapped_block_into(Mapping* m, int64_t offset, int64_t size, uint32_t none_code, uint32_t lz4_code, int64_t max_contents, uint8_t** buffer,
                              size_t* capacity, size_t* length, char* what, size_t what_len) {
  const uint8_t* frame = NULL;
  size_t contents;
  int lz4;
  const char* bad = mapped_frame(m, offset, size, none_code, lz4_code, max_contents, &frame, &contents, &lz4, what, what_len);
  if (bad != NULL) return bad;
  if (contents > *capacity) {
    size_t grown = *capacity * 2 > contents ? *capacity * 2 : contents;
    uint8_t* p = realloc(*buffer, grown);
    if (p == NULL) return BLOCK_OUT_OF_MEMORY;
    *buffer = p;
    *capacity = grown;
  }
  bad = decode_frame(frame, (size_t)size, lz4, *buffer, contents, what, what_len);
  if (bad != NULL) return bad;
  *length = contents;
  return NULL;
}

/** The first six arguments of readMappedBlock and seekMappedBlock; false (a TypeError thrown) when they are wrong. */
static bool mapped_args(napi_env env, napi_value* argv, size_t argc, Mapping** m, int64_t* offset, int64_t* size, uint32_t* none_code, uint32_t* lz4_code,
                        int64_t* max_contents, const char* usage) {
  if (argc < 6 || (*m = mapping_arg(env, argv[0])) == NULL || napi_get_value_int64(env, argv[1], offset) != napi_ok ||
      napi_get_value_int64(env, argv[2], size) != napi_ok || napi_get_value_uint32(env, argv[3], none_code) != napi_ok ||
      napi_get_value_uint32(env, argv[4], lz4_code) != napi_ok || napi_get_value_int64(env, argv[5], max_contents) != napi_ok || *offset < 0 || *size < 0 ||
      *size > INT32_MAX) {
    napi_throw_type_error(env, NULL, usage);
    return false;
  }
  if ((*m)->base == NULL) {
    napi_throw_error(env, NULL, "stratadb_io: a read of an unmapped file");
    return false;
  }
  return true;
}

napi_value read_mapped_block_js(napi_env env, napi_callback_info info) {
  napi_value argv[6], result;
  size_t argc = 6;
  Mapping* m;
  int64_t offset, size, max_contents, n = -1;
  uint32_t none_code, lz4_code;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok ||
      !mapped_args(env, argv, argc, &m, &offset, &size, &none_code, &lz4_code, &max_contents,
                   "stratadb_io: readMappedBlock(mapped, offset, size, noneCode, lz4Code, maxContents)")) {
    return NULL;
  }
  Scratch* s = scratch_of(env);
  if (s == NULL) {
    napi_throw_error(env, NULL, "stratadb_io: could not make the scratch buffer");
    return NULL;
  }
  char what[96];
  const char* bad = mapped_contents(m, offset, size, none_code, lz4_code, max_contents, s->data, what, sizeof what, &n);
  if (bad != NULL) return failure(env, bad);
  if (napi_create_int64(env, n, &result) != napi_ok) return NULL;
  return result;
}

// ---- seekMappedBlock: a point read's search of a data block, in the scratch buffer ----------
//
// The block format is src/sstable/block-format.ts's; the search and its checks are BlockIter's
// seek (src/sstable/block-iter.ts), the messages word for word, so that damage reads the same
// either way: the Block constructor's checks of the restart array, a binary search of the
// restart points for the last one before the target (key, seq) in internal order (user key
// ascending, then seq descending), a scan from there to the first entry at or after it.





/**
 * Seeks (key, seq) in the block d[0..length): SEEK_* with out filled for SEEK_FOUND (and
 * SEEK_OTHER_KEY), or what is wrong with the block in `what`.
 */
static const char* seek_block(const uint8_t* d, size_t length, const uint8_t* key, size_t key_length, double seq, uint32_t kinds, double* out, int* status,
                              char* what, size_t what_len) {
  if (length < 5) {
    snprintf(what, what_len, "block of %zu bytes is too short", length);
    return what;
  }
  uint32_t restarts = rd32(d + length - 4);
  int64_t end_signed = (int64_t)length - 4 - (int64_t)restarts * 4;
  if (restarts == 0 || end_signed <= 0) {
    snprintf(what, what_len, "block declares %u restart points", restarts);
    return what;
  }
  const size_t end = (size_t)end_signed;
  const uint8_t* restart_at = d + end;
  int64_t previous = -1;
  for (uint32_t i = 0; i < restarts; i++) {
    uint32_t r = rd32(restart_at + 4 * (size_t)i);
    if ((int64_t)r <= previous || r >= end || (i == 0 && r != 0)) {
      snprintf(what, what_len, "restart point %u (%u) is out of order or outside the block's entries", i, r);
      return what;
    }
    previous = r;
  }
  // The last restart point whose key sorts before the target.
  uint32_t lo = 0, hi = restarts - 1;
  while (lo < hi) {
    uint32_t mid = (lo + hi + 1) / 2;
    size_t p = rd32(restart_at + 4 * (size_t)mid), q = p + 1, after;
    int64_t unshared = (p < end && d[p] == 0) ? block_varint(d, q, end, &after) : -1;
    if (unshared >= 0) q = after;
    if (unshared < 0 || block_varint(d, q, end, &after) < 0 || after + (size_t)unshared + 9 > end) {
      snprintf(what, what_len, "malformed entry at a restart point (entry at byte %zu of the block)", p);
      return what;
    }
    q = after;
    int c = compare_bytes(d + q, (size_t)unshared, key, key_length);
    if (c == 0) {
      double entry_seq = u64_as_double(d + q + (size_t)unshared, false);
      c = entry_seq > seq ? -1 : entry_seq < seq ? 1 : 0;
    }
    if (c < 0) lo = mid;
    else hi = mid - 1;
  }
  // The scan: every entry passed over sorts before the target (see BlockIter's #scanTo).
  size_t p = rd32(restart_at + 4 * (size_t)lo), previous_length = 0, matched = 0;
  while (p < end) {
    size_t q = p, after;
    int64_t shared = block_varint(d, q, end, &after);
    int64_t unshared = shared >= 0 ? block_varint(d, q = after, end, &after) : -1;
    int64_t value_length = unshared >= 0 ? block_varint(d, q = after, end, &after) : -1;
    if (value_length < 0 || (size_t)shared > previous_length) {
      snprintf(what, what_len, "malformed entry header (entry at byte %zu of the block)", p);
      return what;
    }
    q = after;
    size_t value_offset = q + (size_t)unshared + 9;
    if (value_offset + (size_t)value_length > end) {
      snprintf(what, what_len, "entry runs past the end of the block (entry at byte %zu of the block)", p);
      return what;
    }
    size_t entry_length = (size_t)shared + (size_t)unshared;
    if ((size_t)shared <= matched) {
      size_t n = entry_length < key_length ? entry_length : key_length, i = (size_t)shared;
      int c = 0;
      for (; i < n; i++) {
        c = (int)d[q + i - (size_t)shared] - (int)key[i];
        if (c != 0) break;
      }
      int same_key = 0;
      if (c == 0) {
        c = entry_length < key_length ? -1 : entry_length > key_length ? 1 : 0;
        same_key = c == 0;
      }
      if (c == 0) {
        double entry_seq = u64_as_double(d + q + (size_t)unshared, true);
        c = entry_seq > seq ? -1 : entry_seq < seq ? 1 : 0;
      }
      if (c >= 0) {
        size_t s = q + (size_t)unshared;
        double entry_seq = u64_as_double(d + s, true);
        uint8_t kind = d[s + 8];
        if (entry_seq < 0 || kind > 31 || ((kinds >> kind) & 1) == 0) {
          snprintf(what, what_len, "entry has a bad sequence number or kind (entry at byte %zu of the block)", p);
          return what;
        }
        out[OUT_SEQ] = entry_seq;
        out[OUT_KIND] = kind;
        out[OUT_VALUE_OFFSET] = (double)value_offset;
        out[OUT_VALUE_LENGTH] = (double)value_length;
        *status = same_key ? SEEK_FOUND : SEEK_OTHER_KEY;
        return NULL;
      }
      matched = i;
    }
    previous_length = entry_length;
    p = value_offset + (size_t)value_length;
  }
  *status = SEEK_PAST_END;
  return NULL;
}

const char* seek_block_contents(const uint8_t* d, size_t length, const uint8_t* key, size_t key_length, double seq, uint32_t kinds, double* out, int* status,
                                char* what, size_t what_len) {
  return seek_block(d, length, key, key_length, seq, kinds, out, status, what, what_len);
}

int seek_mapped(const MappedBlockRead* r, const uint8_t* key, size_t key_length, double seq, uint32_t kinds, double* out, const char** bad, char* what, size_t what_len) {
  int64_t n = -1;
  out[OUT_CONTENTS_ERROR] = 0;
  *bad = mapped_contents(r->mapping, r->offset, r->size, r->none_code, r->lz4_code, r->max_contents, r->scratch, what, what_len, &n);
  if (*bad != NULL) return -1;
  int status = -1;
  if (n >= 0) {
    *bad = seek_block(r->scratch, (size_t)n, key, key_length, seq, kinds, out, &status, what, what_len);
    if (*bad != NULL) out[OUT_CONTENTS_ERROR] = 1;
  }
  return status;
}

napi_value seek_mapped_block_js(napi_env env, napi_callback_info info) {
  napi_value argv[10], result;
  size_t argc = 10;
  Mapping* m;
  int64_t offset, size, max_contents;
  uint32_t none_code, lz4_code, kinds;
  double seq;
  const char* usage = "stratadb_io: seekMappedBlock(mapped, offset, size, noneCode, lz4Code, maxContents, key, seq, kinds, out)";
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok ||
      !mapped_args(env, argv, argc, &m, &offset, &size, &none_code, &lz4_code, &max_contents, usage)) {
    return NULL;
  }
  size_t key_length = 0, out_length = 0;
  const uint8_t* key = argc < 10 ? NULL : typed_array_data(env, argv[6], napi_uint8_array, &key_length);
  double* out = argc < 10 ? NULL : typed_array_data(env, argv[9], napi_float64_array, &out_length);
  if (key == NULL || out == NULL || out_length < OUT_FIELDS || napi_get_value_double(env, argv[7], &seq) != napi_ok ||
      napi_get_value_uint32(env, argv[8], &kinds) != napi_ok) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  uint8_t* scratch = scratch_data(env);
  if (scratch == NULL) {
    napi_throw_error(env, NULL, "stratadb_io: could not make the scratch buffer");
    return NULL;
  }
  char what[128];
  const char* bad;
  MappedBlockRead r = {m, scratch, offset, size, none_code, lz4_code, max_contents};
  int status = seek_mapped(&r, key, key_length, seq, kinds, out, &bad, what, sizeof what);
  if (bad != NULL) return failure(env, bad);
  if (napi_create_int32(env, status, &result) != napi_ok) return NULL;
  return result;
}
