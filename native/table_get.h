// blockSlots, setBlockSlot, tableSearch, tableGet (table_get.c): a point read of one mapped table in one call;
// tableWalk, tablesGet: of several, one after another, in one call.
#ifndef STRATADB_TABLE_GET_H
#define STRATADB_TABLE_GET_H
#include <node_api.h>
napi_value block_slots_js(napi_env env, napi_callback_info info);
napi_value set_block_slot_js(napi_env env, napi_callback_info info);
napi_value table_search_js(napi_env env, napi_callback_info info);
napi_value table_get_js(napi_env env, napi_callback_info info);
napi_value table_walk_js(napi_env env, napi_callback_info info);
napi_value tables_get_js(napi_env env, napi_callback_info info);
#endif
