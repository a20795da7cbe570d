// Every store the bench can drive, by name. Peers load lazily (at open), so a missing peer
// costs nothing until it is asked for.

import { leveldb } from './leveldb.js';
import { lmdb } from './lmdb.js';
import { peerVersion } from './peers.js';
import { rocksdb } from './rocksdb.js';
import { sqlite } from './sqlite.js';
import { stratadb } from './stratadb.js';
import type { StoreModule, StoreName } from './store.js';

export const STORES: Record<StoreName, StoreModule> = { stratadb, rocksdb, leveldb, lmdb, sqlite };

/** Whether the store's package is there to load (stratadb always is). */
export function isInstalled(name: StoreName): boolean {
  const store = STORES[name];
  return name === 'stratadb' || peerVersion(store.info.packageName) !== undefined;
}

export { STORE_NAMES, type BatchPut, type Seeker, type Store, type StoreInfo, type StoreModule, type StoreName } from './store.js';
export { PEERS_INSTALL_COMMAND } from './peers.js';
