// MANIFEST edits and the version set: round trips, the bytes of an edit, refusal of what a
// newer stratadb wrote, recovery of the state a sequence of edits describes, and the answers a
// Version gives about the tree's shape.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pack } from 'msgpackr';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadChecksum, NodeFileSystem, StrataError } from '../src/base/index.js';
import { decodeEdit, EditTag, encodeEdit, Version, VersionSet, type TableMeta, type VersionEdit } from '../src/manifest/index.js';
import type { TableCache } from '../src/sstable/index.js';

const table = (fileNumber: number, smallest: string, largest: string, seqs: [number, number]): TableMeta => ({
  fileNumber,
  fileSize: 1000 + fileNumber,
  smallestKey: Buffer.from(smallest),
  largestKey: Buffer.from(largest),
  smallestSeq: seqs[0],
  largestSeq: seqs[1],
  entries: 10,
  deletions: 2,
  rangeDeletions: fileNumber % 3 === 0 ? 4 : 0,
});

test('a version edit round trips, numbers up to 2^53 included', () => {
  const edit: VersionEdit = {
    logNumber: 7,
    nextFileNumber: 2 ** 40,
    lastSequence: Number.MAX_SAFE_INTEGER,
    added: [{ level: 0, table: table(5, '', '\xff', [1, 2 ** 52]) }],
    removed: [{ level: 1, fileNumber: 3 }],
  };
  const back = decodeEdit(encodeEdit(edit));
  assert.equal(back.logNumber, 7);
  assert.equal(back.nextFileNumber, 2 ** 40);
  assert.equal(back.lastSequence, Number.MAX_SAFE_INTEGER);
  assert.equal(back.removed, [{ level: 1, fileNumber: 3 }]);
  const t = back.added![0]!.table;
  assert.equal({ ...t, smallestKey: Buffer.from(t.smallestKey), largestKey: Buffer.from(t.largestKey) }, edit.added![0]!.table);
  assert.equal(decodeEdit(encodeEdit({})), {});
});

test('an edit is a msgpack array of [tag, value] fields with the documented tags', () => {
  // Built from the format comment in version-edit.ts, not with encodeEdit.
  const bytes = pack([
    [1, 4],
    [2, 9],
    [3, 100],
    [6, [0, 2]],
    [5, [0, 8, 4096, Buffer.from('a'), Buffer.from('z'), 1, 100, 50, 3]],
    [7, 'add'],
  ]);
  const edit = decodeEdit(bytes);
  assert.is(edit.mergeOperator, 'add');
  assert.is(edit.logNumber, 4);
  assert.is(edit.nextFileNumber, 9);
  assert.is(edit.lastSequence, 100);
  assert.equal(edit.removed, [{ level: 0, fileNumber: 2 }]);
  assert.is(edit.added![0]!.table.fileNumber, 8);
  assert.is(edit.added![0]!.table.deletions, 3);
  assert.equal(EditTag, { LogNumber: 1, NextFileNumber: 2, LastSequence: 3, AddTable: 5, RemoveTable: 6, MergeOperator: 7 });
});

test('an unknown tag is NOT_SUPPORTED, a malformed edit CORRUPTION', () => {
  const code = (bytes: Uint8Array) => {
    try {
      decodeEdit(bytes);
    } catch (err) {
      return (err as StrataError).code;
    }
    return 'accepted';
  };
  assert.is(code(pack([[99, 1]])), 'NOT_SUPPORTED');
  assert.is(code(pack({ logNumber: 1 })), 'CORRUPTION');
  assert.is(code(pack([[1, -1]])), 'CORRUPTION');
  assert.is(code(pack([[7, '']])), 'CORRUPTION');
  assert.is(code(pack([[7, 5]])), 'CORRUPTION');
  assert.is(code(pack([[1, 'seven']])), 'CORRUPTION');
  assert.is(code(pack([[5, [0, 1, 2]]])), 'CORRUPTION');
  assert.is(code(pack([[6, [0]]])), 'CORRUPTION');
  assert.is(code(Uint8Array.from([0xc1])), 'CORRUPTION');
});

test('a version set recovers the state its edits describe, with level 0 newest first', async () => {
  await loadChecksum();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-manifest-'));
  const fsys = new NodeFileSystem();
  const vs = VersionSet.empty(fsys, dir);
  await vs.startManifest({ logNumber: vs.newFileNumber(), lastSequence: 0 });
  await vs.logAndApply({ logNumber: 10, lastSequence: 50, added: [{ level: 0, table: table(11, 'a', 'm', [1, 50]) }] });
  await vs.logAndApply({ logNumber: 12, lastSequence: 90, added: [{ level: 0, table: table(13, 'c', 'z', [51, 90]) }] });
  await vs.logAndApply({ added: [{ level: 1, table: table(14, 'n', 'p', [1, 1]) }, { level: 1, table: table(15, 'a', 'b', [1, 1]) }], removed: [{ level: 0, fileNumber: 11 }] });
  await vs.close();

  const back = await VersionSet.recover(fsys, dir);
  assert.is(back.logNumber, 12);
  assert.is(back.lastSequence, 90);
  assert.ok(back.newFileNumber() > 15, 'no number a version names is handed out again');
  assert.equal(back.current.levels[0]!.map((t) => t.fileNumber), [13]);
  assert.equal(back.current.levels[1]!.map((t) => t.fileNumber), [15, 14], 'level 1 in key order');
  assert.equal([...back.liveFileNumbers()].sort(), [13, 14, 15]);
  await back.close();
  fs.rmSync(dir, { recursive: true });
});

/**
 * A version of level 0: [13 c..z seqs 51..90, 11 a..m seqs 1..50] (newest first); level 1:
 * [15 a..b, 14 n..p]; level 3: [16 f..h]; levels 2, 4, 5, 6 empty.
 */
function shapedVersion(): Version {
  return Version.empty().apply({
    added: [
      { level: 0, table: table(11, 'a', 'm', [1, 50]) },
      { level: 0, table: table(13, 'c', 'z', [51, 90]) },
      { level: 1, table: table(14, 'n', 'p', [1, 1]) },
      { level: 1, table: table(15, 'a', 'b', [1, 1]) },
      { level: 3, table: table(16, 'f', 'h', [1, 1]) },
    ],
  });
}

/** A table cache that answers get() from `hits` (file number → seq) and records the files asked. */
function probingCache(hits: Record<number, number>): { cache: TableCache; asked: number[] } {
  const asked: number[] = [];
  const cache = {
    get(fileNumber: number) {
      asked.push(fileNumber);
      const seq = hits[fileNumber];
      return seq === undefined ? undefined : { seq, kind: 1, value: Buffer.from(`from ${fileNumber}`) };
    },
  };
  return { cache: cache as unknown as TableCache, asked };
}

test('Version.get consults level 0 newest first, then one file per deeper level, and stops at the first hit', () => {
  const v = shapedVersion();
  const miss = probingCache({});
  assert.is(v.get(Buffer.from('g'), 100, miss.cache), undefined);
  assert.equal(miss.asked, [13, 11, 16], 'both level-0 tables, then level 3 (level 1 has no file reaching g)');

  const hit = probingCache({ 11: 7, 16: 1 });
  assert.is(Buffer.from(v.get(Buffer.from('g'), 100, hit.cache)!.value).toString(), 'from 11');
  assert.equal(hit.asked, [13, 11], 'the newest table holding the key shadows the deeper ones');
});

test('Version.get skips a table whose key range or sequence range excludes the key, without reading it', () => {
  const v = shapedVersion();
  const beforeAll = probingCache({});
  v.get(Buffer.from('g'), 40, beforeAll.cache);
  assert.equal(beforeAll.asked, [11, 16], 'table 13 holds only seqs from 51');
  const outside = probingCache({});
  v.get(Buffer.from('b'), 100, outside.cache);
  assert.equal(outside.asked, [11, 15], 'table 13 starts at c; level 3 has no file reaching b');
  const past = probingCache({});
  v.get(Buffer.from('q'), 100, past.cache);
  assert.equal(past.asked, [13], 'level 1 ends at p');
});

test('Version.overlappingFiles: the files of a level meeting a key range, either end open', () => {
  const v = shapedVersion();
  const numbers = (files: TableMeta[]) => files.map((f) => f.fileNumber);
  assert.equal(numbers(v.overlappingFiles(1, Buffer.from('b'), Buffer.from('n'))), [15, 14], 'both ends included');
  assert.equal(numbers(v.overlappingFiles(1, Buffer.from('c'), Buffer.from('m'))), []);
  assert.equal(numbers(v.overlappingFiles(1, undefined, Buffer.from('a'))), [15]);
  assert.equal(numbers(v.overlappingFiles(1, Buffer.from('o'), undefined)), [14]);
  assert.equal(numbers(v.overlappingFiles(0, Buffer.from('n'), Buffer.from('n'))), [13], 'level 0 is not widened to what overlaps');
  assert.equal(numbers(v.overlappingFiles(2, undefined, undefined)), []);
});

test('Version.rangesBelow: the ranges of the deeper files that meet a key range; deepestNonEmptyLevel', () => {
  const v = shapedVersion();
  const text = (ranges: [Uint8Array, Uint8Array][]) => ranges.map(([lo, hi]) => `${Buffer.from(lo)}..${Buffer.from(hi)}`);
  assert.equal(text(v.rangesBelow(0, undefined, undefined)), ['a..b', 'n..p', 'f..h']);
  assert.equal(text(v.rangesBelow(0, Buffer.from('c'), Buffer.from('g'))), ['f..h'], 'files outside the range are left out');
  assert.equal(text(v.rangesBelow(1, Buffer.from('a'), Buffer.from('z'))), ['f..h'], 'only levels below the one named');
  assert.equal(text(v.rangesBelow(3, undefined, undefined)), []);
  assert.is(v.deepestNonEmptyLevel(), 3);
  assert.is(Version.empty().deepestNonEmptyLevel(), 0);
});

test('Version.addIterators: a cursor per level-0 table, one per deeper level holding files, and a release per acquired table', () => {
  const v = shapedVersion();
  const acquired: number[] = [];
  let released = 0;
  const cache = {
    acquire(fileNumber: number) {
      acquired.push(fileNumber);
      return { reader: { iterator: () => ({ fileNumber }) }, release: () => released++ };
    },
  } as unknown as TableCache;
  const children: unknown[] = ['memtable'];
  const releases: (() => void)[] = [];
  v.addIterators(children as never[], releases, cache);
  assert.equal(acquired, [13, 11], 'deeper levels open their files only when a cursor reaches them');
  assert.is(children.length, 1 + 2 + 2, 'the memtable, two level-0 tables, levels 1 and 3');
  assert.equal(children.slice(1, 3), [{ fileNumber: 13 }, { fileNumber: 11 }]);
  for (const r of releases) r();
  assert.is(released, 2);
});

test.run();
