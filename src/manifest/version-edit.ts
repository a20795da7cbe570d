// Version edits: the records of the MANIFEST. Owns their bytes.
//
//   record payload := msgpack array of fields; field := [tag u8, value]
//   tag LogNumber      (1) value: u53  WALs numbered below are covered by tables
//   tag NextFileNumber (2) value: u53  no file number below it is ever handed out again
//   tag LastSequence   (3) value: u53  sequence numbers up to it may be in tables
//   tag AddTable       (5) value: [level, fileNumber, fileSize, smallestKey bin, largestKey bin,
//                                  smallestSeq, largestSeq, entries, deletions, rangeDeletions?]
//                          rangeDeletions (the table's range tombstones) is written when not 0;
//                          a 9-tuple (every table before range deletions) means 0. In a
//                          10-tuple, largestKey may be `true`: above every key (a table with a
//                          range tombstone without an end; KEY_ABOVE_ALL in memory).
//   tag RemoveTable    (6) value: [level, fileNumber]
//   tag MergeOperator  (7) value: str  the name of the database's merge operator (recorded
//                                      by the first open that names one; never changes)
//
// Records are framed and checksummed by src/wal (record type ManifestEdit); replaying every
// edit of a MANIFEST in order yields the live version. An unknown tag comes from a newer
// stratadb and is refused (NOT_SUPPORTED) rather than skipped: skipping could drop a file.

import { pack, unpack } from 'msgpackr';
import { isKeyAboveAll, KEY_ABOVE_ALL, StrataError, type SeqNum } from '../base/index.js';
import type { TableProperties } from '../sstable/index.js';

// Written to disk: append new tags, never renumber.
export const EditTag = {
  LogNumber: 1,
  NextFileNumber: 2,
  LastSequence: 3,
  // 4 is reserved (LevelDB's CompactPointer has no counterpart here yet); do not reuse
  AddTable: 5,
  RemoveTable: 6,
  MergeOperator: 7,
} as const;

/** What a version knows about one table file. */
export interface TableMeta {
  fileNumber: number;
  fileSize: number;
  smallestKey: Uint8Array;
  largestKey: Uint8Array;
  smallestSeq: SeqNum;
  largestSeq: SeqNum;
  entries: number;
  deletions: number;
  /** Range tombstones in the table (its range-deletion block): readers gather them at open. */
  rangeDeletions: number;
}

/** The metadata a version keeps of table `fileNumber`, from what its builder's finish() returned. */
export function tableMetaOf(fileNumber: number, built: { fileSize: number; properties: TableProperties }): TableMeta {
  const p = built.properties;
  return {
    fileNumber,
    fileSize: built.fileSize,
    smallestKey: p.smallestKey,
    largestKey: p.largestKey,
    smallestSeq: p.smallestSeq,
    largestSeq: p.largestSeq,
    entries: p.entries,
    deletions: p.deletions,
    rangeDeletions: p.rangeDeletions,
  };
}

export interface VersionEdit {
  logNumber?: number;
  nextFileNumber?: number;
  lastSequence?: SeqNum;
  added?: { level: number; table: TableMeta }[];
  removed?: { level: number; fileNumber: number }[];
  mergeOperator?: string;
}

export function encodeEdit(edit: VersionEdit): Uint8Array {
  const fields: unknown[] = [];
  if (edit.logNumber !== undefined) fields.push([EditTag.LogNumber, edit.logNumber]);
  if (edit.nextFileNumber !== undefined) fields.push([EditTag.NextFileNumber, edit.nextFileNumber]);
  if (edit.lastSequence !== undefined) fields.push([EditTag.LastSequence, edit.lastSequence]);
  if (edit.mergeOperator !== undefined) fields.push([EditTag.MergeOperator, edit.mergeOperator]);
  for (const { level, fileNumber } of edit.removed ?? []) fields.push([EditTag.RemoveTable, [level, fileNumber]]);
  for (const { level, table: t } of edit.added ?? []) {
    const largest = isKeyAboveAll(t.largestKey) ? true : t.largestKey;
    const tuple: unknown[] = [level, t.fileNumber, t.fileSize, t.smallestKey, largest, t.smallestSeq, t.largestSeq, t.entries, t.deletions];
    if (t.rangeDeletions > 0 || largest === true) tuple.push(t.rangeDeletions);
    fields.push([EditTag.AddTable, tuple]);
  }
  return pack(fields);
}

/** Decodes an edit; throws CORRUPTION (message without file/offset, the caller adds them) or NOT_SUPPORTED. */
export function decodeEdit(bytes: Uint8Array): VersionEdit {
  const bad = (what: string) => new StrataError('CORRUPTION', `malformed version edit: ${what}`);
  let fields: unknown;
  try {
    fields = unpack(bytes);
  } catch (err) {
    throw bad(`not msgpack (${(err as Error).message})`);
  }
  if (!Array.isArray(fields)) throw bad('not an array of fields');
  const edit: VersionEdit = {};
  const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;
  for (const field of fields) {
    if (!Array.isArray(field) || field.length !== 2) throw bad('field is not [tag, value]');
    const [tag, value] = field as [unknown, unknown];
    switch (tag) {
      case EditTag.LogNumber:
      case EditTag.NextFileNumber:
      case EditTag.LastSequence: {
        if (!isCount(value)) throw bad(`tag ${tag} value is not a count`);
        if (tag === EditTag.LogNumber) edit.logNumber = value;
        else if (tag === EditTag.NextFileNumber) edit.nextFileNumber = value;
        else edit.lastSequence = value;
        break;
      }
      case EditTag.AddTable: {
        const v = value as unknown[];
        if (!Array.isArray(v) || (v.length !== 9 && v.length !== 10)) throw bad('AddTable is not a 9- or 10-tuple');
        const [level, fileNumber, fileSize, smallestKey, largest, smallestSeq, largestSeq, entries, deletions, rangeDeletions = 0] = v;
        const largestKey = largest === true && v.length === 10 ? KEY_ABOVE_ALL : largest;
        if (!isCount(level) || !isCount(fileNumber) || !isCount(fileSize) || !isBytes(smallestKey) || !isBytes(largestKey) ||
          !isCount(smallestSeq) || !isCount(largestSeq) || !isCount(entries) || !isCount(deletions) || !isCount(rangeDeletions)) {
          throw bad('AddTable field of the wrong type');
        }
        (edit.added ??= []).push({
          level,
          table: { fileNumber, fileSize, smallestKey, largestKey, smallestSeq, largestSeq, entries, deletions, rangeDeletions },
        });
        break;
      }
      case EditTag.RemoveTable: {
        const v = value as unknown[];
        if (!Array.isArray(v) || v.length !== 2 || !isCount(v[0]) || !isCount(v[1])) throw bad('RemoveTable is not [level, fileNumber]');
        (edit.removed ??= []).push({ level: v[0], fileNumber: v[1] });
        break;
      }
      case EditTag.MergeOperator: {
        if (typeof value !== 'string' || value.length === 0) throw bad('MergeOperator is not a non-empty string');
        edit.mergeOperator = value;
        break;
      }
      default:
        throw new StrataError('NOT_SUPPORTED', `version edit tag ${String(tag)} is from a newer stratadb`);
    }
  }
  return edit;
}
