// MANIFEST edits and the version set: round trips, the bytes of an edit, refusal of what a
// newer stratadb wrote, recovery of the state a sequence of edits describes, and the answers a
// Version gives about the tree's shape.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pack } from 'msgpackr';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadChecksum, NodeFileSystem, StrataError, ValueKind, type InternalIterator } from '../src/base/index.js';
import { decodeEdit, EditTag, encodeEdit, Version, VersionSet, type TableMeta, type VersionEdit } from '../src/manifest/index.js';
import { LevelIterator } from '../src/manifest/level-iterator.js';
import { TableCache } from '../src/sstable/index.js';

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

/**
 * A table cache that answers get() from `hits` (file number → seq) and records the files asked;
 * its getFirst() (level 0's) is TableCache's own, which asks get() table by table while no walk
 * of open tables can answer (none is open here).
 */
function probingCache(hits: Record<number, number>): { cache: TableCache; asked: number[] } {
  const asked: number[] = [];
  class Probing extends TableCache {
    override get(fileNumber: number) {
      asked.push(fileNumber);
      const seq = hits[fileNumber];
      return seq === undefined ? undefined : { seq, kind: ValueKind.Put, value: Buffer.from(`from ${fileNumber}`) };
    }
  }
  return { cache: new Probing(new NodeFileSystem(), () => '/nonexistent', { maxOpenFiles: 8, blockCache: undefined }), asked };
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

test('Version.addIterators: a cursor per level-0 table and per deeper level, each opening its table only when positioned; tablesToPosition names those tables', () => {
  const v = shapedVersion();
  const acquired: number[] = [];
  let released = 0;
  const cursor = { seek() {}, seekForPrev() {}, seekToFirst() {}, seekToLast() {}, valid: () => true, close() {} };
  const cache = {
    acquire(fileNumber: number) {
      acquired.push(fileNumber);
      return { reader: { iterator: () => cursor }, release: () => released++ };
    },
    openAhead: () => Promise.resolve(),
  } as unknown as TableCache;
  const children: InternalIterator[] = [];
  v.addIterators(children, cache);
  assert.is(children.length, 2 + 2, 'two level-0 tables, levels 1 and 3');
  assert.equal(acquired, [], 'no table opens before a cursor is positioned');
  children[0]!.seek(Buffer.from('d'));
  children[2]!.seek(Buffer.from('c'));
  assert.equal(acquired, [13, 14], 'the newest level-0 table, and the level-1 file reaching "c"');
  for (const c of children) c.close();
  assert.is(released, 2, 'closing releases what positioning acquired');

  const position = (target: string | undefined, reverse: boolean) => v.tablesToPosition(target === undefined ? undefined : Buffer.from(target), reverse);
  assert.equal(position(undefined, false), [13, 11, 15, 16], 'from the start: every level-0 table, each deeper level\'s first file');
  assert.equal(position(undefined, true), [13, 11, 14, 16], 'from the end: each deeper level\'s last file');
  assert.equal(position('c', false), [13, 11, 14, 16], 'forward: the first file whose largest key is >= the target');
  assert.equal(position('c', true), [13, 11, 15], 'backward: the last file whose smallest key is <= the target (none in level 3)');
  assert.equal(position('q', false), [13, 11], 'past every deeper file: the level-0 tables alone');
});

test('LevelIterator: a cursor that runs off one file into the next has the file after that opened ahead (in its direction)', () => {
  const files = [table(21, 'a', 'b', [1, 1]), table(22, 'c', 'd', [1, 1]), table(23, 'e', 'f', [1, 1]), table(24, 'g', 'h', [1, 1])];
  const acquired: number[] = [];
  const ahead: number[] = [];
  // Each file holds its two keys.
  const cache = {
    acquire(fileNumber: number) {
      acquired.push(fileNumber);
      const keys = files.find((f) => f.fileNumber === fileNumber)!;
      const entries = [keys.smallestKey, keys.largestKey];
      let at = -1;
      const cursor = {
        valid: () => at >= 0 && at < entries.length,
        seekToFirst: () => (at = 0),
        seekToLast: () => (at = entries.length - 1),
        seek: (k: Uint8Array) => (at = entries.findIndex((e) => Buffer.compare(e, k) >= 0)),
        next: () => at++,
        prev: () => at--,
        key: () => entries[at]!,
        close() {},
      };
      return { reader: { iterator: () => cursor }, release() {} };
    },
    openAhead(fileNumbers: number[]) {
      ahead.push(...fileNumbers);
      return Promise.resolve();
    },
  } as unknown as TableCache;
  const it = new LevelIterator(files, cache);
  it.seekToFirst();
  assert.equal([acquired, ahead], [[21], [22]], 'a scan from the start opens the second file ahead');
  const keys: string[] = [];
  for (; it.valid(); it.next()) keys.push(Buffer.from(it.key()).toString());
  assert.equal(keys, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']);
  assert.equal([acquired, ahead], [[21, 22, 23, 24], [22, 23, 24]], 'each file crossed into opens the next ahead, none past the last');
  acquired.length = 0;
  ahead.length = 0;
  it.seek(Buffer.from('c'));
  assert.equal([acquired, ahead], [[22], []], 'a seek opens its file and nothing ahead');
  it.seekToLast();
  it.prev();
  it.prev();
  assert.equal([acquired, ahead], [[22, 24, 23], [23, 22]], 'backward: the file before, then the one before it');
  it.close();
});

test.run();
