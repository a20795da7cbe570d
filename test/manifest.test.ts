// MANIFEST edits and the version set: round trips, the bytes of an edit, refusal of what a
// newer stratadb wrote, and recovery of the state a sequence of edits describes.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pack } from 'msgpackr';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadChecksum, NodeFileSystem, StrataError } from '../src/base/index.js';
import { decodeEdit, EditTag, encodeEdit, VersionSet, type TableMeta, type VersionEdit } from '../src/manifest/index.js';

const table = (fileNumber: number, smallest: string, largest: string, seqs: [number, number]): TableMeta => ({
  fileNumber,
  fileSize: 1000 + fileNumber,
  smallestKey: Buffer.from(smallest),
  largestKey: Buffer.from(largest),
  smallestSeq: seqs[0],
  largestSeq: seqs[1],
  entries: 10,
  deletions: 2,
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
  ]);
  const edit = decodeEdit(bytes);
  assert.is(edit.logNumber, 4);
  assert.is(edit.nextFileNumber, 9);
  assert.is(edit.lastSequence, 100);
  assert.equal(edit.removed, [{ level: 0, fileNumber: 2 }]);
  assert.is(edit.added![0]!.table.fileNumber, 8);
  assert.is(edit.added![0]!.table.deletions, 3);
  assert.equal(EditTag, { LogNumber: 1, NextFileNumber: 2, LastSequence: 3, AddTable: 5, RemoveTable: 6 });
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

test.run();
