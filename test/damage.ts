// Fixtures of the tests that damage files by hand (recovery, fault-corruption, tools): the
// offsets they need, taken from the format comments (src/wal/record-format.ts,
// src/sstable/format.ts), not from the code under test, and the databases they damage.

import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { open, type OpenOptions } from '../src/index.js';
import { filesOf } from './helpers.js';

// src/wal/record-format.ts: a 12-byte file header, then records of a 13-byte header
// (headerChecksum u32 | length u32 | type u8 | payloadChecksum u32) and the payload.
export const LOG_FILE_HEADER_BYTES = 12;
export const RECORD_HEADER_BYTES = 13;
// Record type 6, LogsSynced: an empty record a WAL holds once the WALs before it were synced.
const LOGS_SYNCED = 6;
// src/sstable/format.ts: the footer is the last 52 bytes; filter, properties and index handles
// (offset u64 | size u32) at footer bytes 4, 16 and 28, the magic at 44.
export const FOOTER_BYTES = 52;

/**
 * The offsets of the records of the log file `file` that hold writes (all but LogsSynced
 * records), which must end at a record boundary, or there be followed by zeros only (a WAL
 * preallocated ahead of its appends, as a crash leaves it).
 */
export function recordOffsets(file: string): number[] {
  const bytes = fs.readFileSync(file);
  const offsets: number[] = [];
  let at = LOG_FILE_HEADER_BYTES;
  while (at + RECORD_HEADER_BYTES <= bytes.length && !isZeroFrom(bytes, at)) {
    if (bytes[at + 8] !== LOGS_SYNCED) offsets.push(at);
    at += RECORD_HEADER_BYTES + bytes.readUInt32LE(at + 4);
  }
  assert.ok(at === bytes.length || isZeroFrom(bytes, at), `${file} ends at a record boundary`);
  return offsets;
}

/** Offset just past the last record of the log file `file` (where its preallocated zeros start). */
export function logEnd(file: string): number {
  const bytes = fs.readFileSync(file);
  let at = LOG_FILE_HEADER_BYTES;
  while (at + RECORD_HEADER_BYTES <= bytes.length && !isZeroFrom(bytes, at)) at += RECORD_HEADER_BYTES + bytes.readUInt32LE(at + 4);
  return Math.min(at, bytes.length);
}

function isZeroFrom(bytes: Uint8Array, at: number): boolean {
  for (let i = at; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

export interface TableLayout {
  size: number;
  filter: { offset: number; size: number };
  /** Format version 2 only (src/sstable/format.ts). */
  metaIndex: { offset: number; size: number } | undefined;
  properties: { offset: number; size: number };
  index: { offset: number; size: number };
}

/**
 * Block handles from a table's footer and, in format version 2, its meta-index (read from the
 * format comment of src/sstable/format.ts: count varint, then name length varint | name |
 * offset varint | size varint, uncompressed).
 */
export function tableLayout(file: string): TableLayout {
  const bytes = fs.readFileSync(file);
  const footer = bytes.subarray(bytes.length - FOOTER_BYTES);
  assert.equal([...footer.subarray(44, 52)], [0x73, 0x74, 0x72, 0x61, 0x74, 0x61, 0xd8, 0x5e], 'the table ends in the magic');
  const handle = (at: number) => ({ offset: Number(footer.readBigUInt64LE(at)), size: footer.readUInt32LE(at + 8) });
  const version = footer.readUInt32LE(40);
  if (version === 1) return { size: bytes.length, filter: handle(4), metaIndex: undefined, properties: handle(16), index: handle(28) };
  const metaIndex = handle(4);
  let at = metaIndex.offset;
  const varint = () => {
    let n = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[at++]!;
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return n;
    }
  };
  let filter: { offset: number; size: number } | undefined;
  for (let count = varint(); count > 0; count--) {
    const nameLength = varint();
    const name = bytes.subarray(at, at + nameLength).toString('latin1');
    at += nameLength;
    const h = { offset: varint(), size: varint() };
    if (name === 'filter') filter = h;
  }
  assert.ok(filter !== undefined, 'the meta-index names the filter block');
  return { size: bytes.length, filter, metaIndex, properties: handle(16), index: handle(28) };
}

export const TABLE_KEYS = 3000;
export const tableKey = (i: number) => `key-${String(i).padStart(5, '0')}`;
export const tableValue = (i: number) => `value of ${i}: ${'abcdefghij'.slice(i % 10)}${String(i * 7919).padStart(12, '0')}`;

/** A closed database whose TABLE_KEYS keys all live in one table (flushed; the WAL is empty); returns its path. */
export async function databaseWithTable(dir: string, options: OpenOptions = {}): Promise<string> {
  const db = await open(dir, options);
  for (let i = 0; i < TABLE_KEYS; i += 100) {
    const batch = [];
    for (let j = i; j < i + 100; j++) batch.push({ type: 'put' as const, key: tableKey(j), value: tableValue(j) });
    await db.batch(batch);
  }
  await db.flush();
  await db.close();
  const tables = filesOf(dir, '.sst');
  assert.is(tables.length, 1, `one table: ${tables.join(', ')}`);
  return path.join(dir, tables[0]!);
}

/**
 * A closed database ('a' and 'b' each flushed) whose one MANIFEST holds the snapshot record
 * written at open and two flush edits; returns its path.
 */
export async function databaseWithManifest(dir: string): Promise<string> {
  // No retention for the change feed: a flush deletes the WAL it retired, as the damage tests expect.
  const db = await open(dir, { changeRetention: { bytes: 0 } });
  await db.put('a', '1');
  await db.flush();
  await db.put('b', '2');
  await db.flush();
  await db.close();
  const manifests = filesOf(dir, 'MANIFEST-');
  assert.is(manifests.length, 1, `one MANIFEST: ${manifests.join(', ')}`);
  const manifest = path.join(dir, manifests[0]!);
  assert.is(recordOffsets(manifest).length, 3, 'the MANIFEST holds the record written at open and two edits');
  return manifest;
}
