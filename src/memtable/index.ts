// src/memtable: the in-memory, sorted write buffer (a skip list over internal keys).
// Other folders import this file only.
export { Memtable, type MemtableOptions, type SharedMemtable } from './memtable.js';
export { MemtablePool } from './pool.js';
