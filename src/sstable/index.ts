// src/sstable: sorted string tables, the immutable files of the LSM tree. Other folders
// import from here only; the format helpers stay private to the folder.
export { TableBuilder, type TableBuilderOptions } from './table-builder.js';
export { BuilderScratch } from './builder-scratch.js';
export { RELEASE_MAPPED_BYTES, TableReader } from './table-reader.js';
export { BLOCK_CHECKS } from './physical-block.js';
export type { OwnBlockBuffer } from './table-iterator.js';
export { mayHold, NOT_WALKED, TableCache, type TableCacheOptions, type TableToRead } from './table-cache.js';
export { BlockCache } from './block-cache.js';
export type { TableProperties } from './properties.js';
export { BlockDeferred, LargeBlocks, ReadTarget, type BlockDeferredResult } from './large-blocks.js';
export { endsInTableMagic } from './table-file.js';
