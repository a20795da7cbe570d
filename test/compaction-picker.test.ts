// CompactionPicker (src/compaction/picker.ts): which level is due (level 0 by file count, the
// others by bytes against their targets), which files it takes (all of level 0; one file of a
// deeper level, round-robin through the key space), what it pulls in from the level below,
// when it is a trivial move, and pickRange() for compactRange(). Versions are built with the
// manifest's public API: Version.empty().apply(edit).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CompactionPicker, levelScores, levelTargetBytes, type CompactionPolicy, type PickedCompaction } from '../src/compaction/index.js';
import { NUM_LEVELS, Version, type TableMeta } from '../src/manifest/index.js';

const KiB = 1024;
const POLICY: CompactionPolicy = { l0CompactionTrigger: 4, levelBaseBytes: 100 * KiB, levelMultiplier: 10 };

let nextSeq = 1;
/** Table `fileNumber` holding user keys `smallest`..`largest` in `fileSize` bytes. */
const table = (fileNumber: number, smallest: string, largest: string, fileSize = 10 * KiB): TableMeta => {
  const seq = nextSeq;
  nextSeq += 10;
  return { fileNumber, fileSize, smallestKey: Buffer.from(smallest), largestKey: Buffer.from(largest), smallestSeq: seq, largestSeq: seq + 9, entries: 10, deletions: 0, rangeDeletions: 0 };
};

/** A version with `files[level]` in each level. */
function version(files: Record<number, TableMeta[]>): Version {
  const added = Object.entries(files).flatMap(([level, tables]) => tables.map((table) => ({ level: Number(level), table })));
  return Version.empty().apply({ added });
}

/** A pick as plain data: level → output level, the file numbers per input level, trivial move or not. */
function show(pick: PickedCompaction | undefined) {
  if (pick === undefined) return undefined;
  return {
    from: `${pick.level}->${pick.outputLevel}`,
    inputs: pick.inputs.map((i) => [i.level, i.files.map((f) => f.fileNumber).sort((a, b) => a - b)]),
    trivialMove: pick.trivialMove,
  };
}

test('nothing is picked while every level is within its target', () => {
  const v = version({ 0: [table(1, 'a', 'z'), table(2, 'a', 'z'), table(3, 'a', 'z')], 1: [table(4, 'a', 'z', 99 * KiB)] });
  assert.is(new CompactionPicker(POLICY).pick(v), undefined);
  assert.is(new CompactionPicker(POLICY).pick(Version.empty()), undefined);
});

test('level 0 at its trigger is compacted whole, with every level-1 file its key range overlaps', () => {
  const v = version({
    0: [table(1, 'c', 'e'), table(2, 'd', 'f'), table(3, 'm', 'n'), table(4, 'e', 'g')],
    1: [table(10, 'a', 'b'), table(11, 'c', 'd'), table(12, 'g', 'h'), table(13, 'i', 'j'), table(14, 'o', 'p')],
  });
  // The inputs span c..n, so i..j overlaps their range although no single level-0 file overlaps it.
  assert.equal(show(new CompactionPicker(POLICY).pick(v)), { from: '0->1', inputs: [[0, [1, 2, 3, 4]], [1, [11, 12, 13]]], trivialMove: false });
});

test('the key ranges overlap when they only share a boundary key', () => {
  const v = version({ 1: [table(1, 'd', 'f', 200 * KiB)], 2: [table(2, 'a', 'd'), table(3, 'f', 'h'), table(4, 'g', 'k')] });
  assert.equal(show(new CompactionPicker(POLICY).pick(v))?.inputs, [[1, [1]], [2, [2, 3]]]);
});

test('a level over its target in bytes is due; its score is its bytes over its target', () => {
  const v = version({ 1: [table(1, 'a', 'c', 60 * KiB), table(2, 'd', 'f', 60 * KiB)], 2: [table(3, 'a', 'z', 500 * KiB)] });
  const scores = levelScores(v, POLICY);
  assert.is(scores[1], 1.2);
  assert.is(scores[2], 0.5);
  assert.is(levelTargetBytes(1, POLICY), 100 * KiB);
  assert.is(levelTargetBytes(3, POLICY), 10_000 * KiB);
  assert.is(new CompactionPicker(POLICY).pick(v)?.level, 1);
});

test('level 0 scores its file count over the trigger', () => {
  const v = version({ 0: [table(1, 'a', 'b'), table(2, 'a', 'b')] });
  assert.is(levelScores(v, POLICY)[0], 0.5);
});

test('the level with the highest score is picked', () => {
  const l1At15 = [table(1, 'a', 'c', 75 * KiB), table(2, 'd', 'f', 75 * KiB)];
  const l2At3 = [table(3, 'a', 'z', 3000 * KiB)];
  assert.is(new CompactionPicker(POLICY).pick(version({ 1: l1At15, 2: l2At3 }))?.level, 2);
  const l0At2 = Array.from({ length: 8 }, (_, i) => table(10 + i, 'a', 'b'));
  assert.is(new CompactionPicker(POLICY).pick(version({ 0: l0At2, 1: l1At15 }))?.level, 0);
  const l0At1 = l0At2.slice(0, 4);
  assert.is(new CompactionPicker(POLICY).pick(version({ 0: l0At1, 1: l1At15 }))?.level, 1, 'level 1 at 1.5 beats level 0 at 1');
});

test('the last level is never compacted, however large', () => {
  const v = version({ [NUM_LEVELS - 1]: [table(1, 'a', 'z', 1024 * 1024 * KiB)] });
  assert.is(levelScores(v, POLICY)[NUM_LEVELS - 1], 0);
  assert.is(new CompactionPicker(POLICY).pick(v), undefined);
});

test('a deeper level gives one file per compaction, taken round-robin through the key space', () => {
  const picker = new CompactionPicker(POLICY);
  const v = version({ 1: [table(1, 'a', 'b', 50 * KiB), table(2, 'c', 'd', 50 * KiB), table(3, 'e', 'f', 50 * KiB)] });
  const picked = Array.from({ length: 4 }, () => picker.pick(v)!.inputs[0]!.files.map((f) => f.fileNumber));
  assert.equal(picked, [[1], [2], [3], [1]], 'after the last file, back to the first');
});

test('a deeper level gives a file holding range tombstones before the round-robin one', () => {
  const withTombstones = { ...table(12, 'm', 'p', 40 * KiB), rangeDeletions: 2 };
  const v = version({ 1: [table(10, 'a', 'c', 40 * KiB), table(11, 'd', 'f', 40 * KiB), withTombstones], 2: [table(20, 'a', 'z')] });
  const picker = new CompactionPicker(POLICY);
  assert.equal(show(picker.pick(v))?.inputs, [[1, [12]], [2, [20]]]);
  const without = version({ 1: [table(10, 'a', 'c', 40 * KiB), table(11, 'd', 'f', 40 * KiB), table(12, 'm', 'p', 40 * KiB)], 2: [table(20, 'a', 'z')] });
  assert.equal(show(new CompactionPicker(POLICY).pick(without))?.inputs, [[1, [10]], [2, [20]]], 'without tombstones: the first file');
});

test('the round-robin cursor is a key: it goes on past the last compacted range in a new version', () => {
  const picker = new CompactionPicker(POLICY);
  const before = version({ 1: [table(1, 'a', 'b', 80 * KiB), table(2, 'c', 'd', 80 * KiB), table(3, 'e', 'f', 80 * KiB)] });
  assert.equal(show(picker.pick(before))?.inputs, [[1, [1]]]);
  // File 1 moved down; a new file 4 (b1..b2) sits just past the cursor's key (b) has been passed.
  const after = version({ 1: [table(4, 'b1', 'b2', 80 * KiB), table(2, 'c', 'd', 80 * KiB), table(3, 'e', 'f', 80 * KiB)], 2: [table(1, 'a', 'b', 80 * KiB)] });
  assert.equal(show(picker.pick(after))?.inputs, [[1, [4]]]);
  assert.equal(show(picker.pick(after))?.inputs, [[1, [2]]]);
});

test('each level keeps its own round-robin cursor', () => {
  const picker = new CompactionPicker(POLICY);
  const l1 = [table(1, 'a', 'b', 60 * KiB), table(2, 'c', 'd', 60 * KiB)];
  const l2 = [table(3, 'a', 'b', 2000 * KiB), table(4, 'x', 'y', 2000 * KiB)];
  const v = version({ 1: l1, 2: l2 });
  assert.equal(show(picker.pick(v))?.inputs[0], [2, [3]], 'level 2 scores 4, level 1 1.2');
  assert.equal(show(picker.pick(version({ 1: l1 })))?.inputs[0], [1, [1]], 'level 1 starts at its own beginning');
  assert.equal(show(picker.pick(v))?.inputs[0], [2, [4]]);
});

test('one input file with nothing below it to merge with is a trivial move', () => {
  const picker = new CompactionPicker(POLICY);
  const v = version({ 1: [table(1, 'a', 'c', 150 * KiB)], 2: [table(2, 'd', 'f')] });
  assert.equal(show(picker.pick(v)), { from: '1->2', inputs: [[1, [1]]], trivialMove: true });
  const overlapped = version({ 1: [table(1, 'a', 'c', 150 * KiB)], 2: [table(2, 'c', 'f')] });
  assert.equal(show(new CompactionPicker(POLICY).pick(overlapped)), { from: '1->2', inputs: [[1, [1]], [2, [2]]], trivialMove: false });
});

test('level 0 is a trivial move only as a single file: two files are merged even with nothing below', () => {
  const one = new CompactionPicker({ ...POLICY, l0CompactionTrigger: 1 });
  assert.equal(show(one.pick(version({ 0: [table(1, 'a', 'b')] }))), { from: '0->1', inputs: [[0, [1]]], trivialMove: true });
  assert.equal(show(one.pick(version({ 0: [table(1, 'a', 'b'), table(2, 'x', 'y')] }))), { from: '0->1', inputs: [[0, [1, 2]]], trivialMove: false });
});

test('pickRange() takes the files of a level overlapping the range, with their overlaps below', () => {
  const picker = new CompactionPicker(POLICY);
  const v = version({
    1: [table(1, 'a', 'b'), table(2, 'c', 'e'), table(3, 'f', 'h'), table(4, 'x', 'z')],
    2: [table(5, 'a', 'a'), table(6, 'd', 'g'), table(7, 'y', 'y')],
  });
  const b = Buffer.from;
  assert.equal(show(picker.pickRange(v, 1, b('d'), b('f'))), { from: '1->2', inputs: [[1, [2, 3]], [2, [6]]], trivialMove: false });
  assert.equal(show(picker.pickRange(v, 1, undefined, b('c')))?.inputs, [[1, [1, 2]], [2, [5, 6]]], 'an open start');
  assert.equal(show(picker.pickRange(v, 1, b('w'), undefined))?.inputs, [[1, [4]], [2, [7]]], 'an open end');
  assert.equal(show(picker.pickRange(v, 1, undefined, undefined))?.inputs, [[1, [1, 2, 3, 4]], [2, [5, 6, 7]]], 'everything');
  assert.is(picker.pickRange(v, 1, b('i'), b('w')), undefined, 'nothing of level 1 overlaps i..w');
  assert.is(picker.pickRange(v, 3, undefined, undefined), undefined, 'an empty level');
});

test('pickRange() from level 0 takes every level-0 file once any overlaps the range', () => {
  const picker = new CompactionPicker(POLICY);
  const v = version({ 0: [table(1, 'a', 'b'), table(2, 'm', 'n')], 1: [table(3, 'c', 'd'), table(4, 'x', 'y')] });
  assert.equal(show(picker.pickRange(v, 0, Buffer.from('a'), Buffer.from('a'))), { from: '0->1', inputs: [[0, [1, 2]], [1, [3]]], trivialMove: false });
  assert.is(picker.pickRange(v, 0, Buffer.from('p'), Buffer.from('q')), undefined);
});

test('pickRange() does not depend on scores: a level within its target is still compacted', () => {
  const v = version({ 2: [table(1, 'a', 'b', 1)] });
  assert.equal(show(new CompactionPicker(POLICY).pickRange(v, 2, undefined, undefined)), { from: '2->3', inputs: [[2, [1]]], trivialMove: true });
});

test('pickRange of the last level is refused: nothing lies below it to compact into', () => {
  const picker = new CompactionPicker(POLICY);
  assert.throws(() => picker.pickRange(Version.empty(), NUM_LEVELS - 1, undefined, undefined), /no level below it/);
});

test.run();
