// searchSkipList (skiplist_search.c): a group of memtable inserts' searches, overlapped.
#ifndef STRATADB_SKIPLIST_SEARCH_H
#define STRATADB_SKIPLIST_SEARCH_H
#include <node_api.h>
napi_value search_skip_list_js(napi_env env, napi_callback_info info);
#endif
