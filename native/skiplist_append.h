// appendToSkipList (skiplist_append.c): a batch's entries that go last in a memtable's skip list, linked in many per call.
#ifndef STRATADB_SKIPLIST_APPEND_H
#define STRATADB_SKIPLIST_APPEND_H
#include <node_api.h>
napi_value append_to_skip_list_js(napi_env env, napi_callback_info info);
#endif
