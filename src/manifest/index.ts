// src/manifest: version edits, versions and the MANIFEST that records them.
export { VersionSet } from './version-set.js';
export { Version, NUM_LEVELS } from './version.js';
export { encodeEdit, decodeEdit, EditTag, tableMetaOf, type TableMeta, type VersionEdit } from './version-edit.js';
