// src/base: the shared vocabulary. Imports nothing else from src/.
export * from './errors.js';
export * from './bytes.js';
export * from './checksum.js';
export * from './fs.js';
export * from './filenames.js';
export * from './internal-key.js';
export * from './internal-iterator.js';
export * from './batch-format.js';
export * from './merge-operator.js';
export * from './range-tombstone.js';
export * from './ttl.js';
export * from './merging-iterator.js';
export * from './directories.js';
export * from './huge-pages.js';
export * from './thread-priority.js';
