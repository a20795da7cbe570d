// mergeView, mergeFill (compaction_merge.c): a compaction's merge of point entries in C.
#ifndef STRATADB_COMPACTION_MERGE_H
#define STRATADB_COMPACTION_MERGE_H
#include <node_api.h>
napi_value merge_view_js(napi_env env, napi_callback_info info);
napi_value merge_fill_js(napi_env env, napi_callback_info info);
#endif
