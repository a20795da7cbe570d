{
  "targets": [
    {
      "target_name": "stratadb_io",
      "sources": ["native/stratadb_io.c", "native/block_read.c", "native/skiplist_blocks.c", "native/skiplist_search.c", "native/skiplist_append.c", "native/table_get.c", "native/lz4_compress.c", "native/bloom_build.c", "native/index_decode.c", "native/compaction_merge.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
