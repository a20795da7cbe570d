// CompactionPicker (src/compaction/picker.ts): which level is due (level 0 by file count, the
// others by bytes against their targets), which files it takes (all of level 0; one file of a
// deeper level: the one whose range tombstones cover the most below it, else round-robin
// through the key space), scores compensated by what range tombstones cover, what it pulls in
// from the level below, when it is a trivial move, and pickRangeToBottom() for compactRange(). Versions
// are built with the manifest's public API: Version.empty().apply(edit).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CompactionPicker, levelScores, levelTargetBytes, pendingCompactionBytes, type CompactionPolicy, type PickedCompaction } from '../src/compaction/index.js';
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

test('level 0 below its trigger is compacted whole once iterators positioned over two or more of its tables as often as its read budget allows', () => {
  const v = version({ 0: [table(1, 'a', 'm'), table(2, 'f', 'z')], 1: [table(10, 'a', 'c'), table(11, 'x', 'z')] });
  let due = 0;
  v.onReadCompactionDue = () => due++;
  const picker = new CompactionPicker(POLICY);
  for (let i = 0; i < 99; i++) v.tablesToPosition(Buffer.from('g'), false);
  assert.is(v.readCompactionDue, false);
  assert.is(picker.pick(v), undefined, 'not yet: 99 positionings');
  // Gets do not count: a table without the key answers them from its bloom filter.
  for (let i = 0; i < 500; i++) v.get(Buffer.from('g'), 1_000_000, { get: () => undefined, getFirst: () => undefined, walkGet: () => undefined } as never);
  assert.is(v.readCompactionDue, false, 'gets do not count');
  v.tablesToPosition(undefined, true);
  assert.is(v.readCompactionDue, true);
  assert.is(due, 1, 'the owner is told once');
  assert.equal(show(picker.pick(v)), { from: '0->1', inputs: [[0, [1, 2]], [1, [10, 11]]], trivialMove: false });
  for (let i = 0; i < 200; i++) v.tablesToPosition(Buffer.from('a'), false);
  assert.is(due, 1, 'and only once');
  // One level-0 table costs a positioning one table, as a deeper level does: never due.
  const one = version({ 0: [table(3, 'a', 'z')], 1: [table(12, 'a', 'z')] });
  for (let i = 0; i < 1_000; i++) one.tablesToPosition(Buffer.from('b'), false);
  assert.is(one.readCompactionDue, false);
  assert.is(picker.pick(one), undefined);
  // The budget grows with what the compaction would read: one positioning per 16 KiB of level
  // 0 and of the level-1 files its key range overlaps (not 'x'..'y', outside it).
  const big = version({ 0: [table(4, 'b', 'k', 3200 * KiB), table(5, 'c', 'm', 3200 * KiB)], 1: [table(13, 'a', 'c', 1600 * KiB), table(14, 'x', 'y', 6400 * KiB)] });
  for (let i = 0; i < 499; i++) big.tablesToPosition(Buffer.from('d'), false);
  assert.is(big.readCompactionDue, false, '6,400 KiB of level 0 and 1,600 KiB of level 1 under it: a budget of 500');
  big.tablesToPosition(Buffer.from('d'), false);
  assert.is(big.readCompactionDue, true);
});

test('level 0 at its trigger is compacted whole, with every level-1 file its key range overlaps', () => {
  const v = version({
    0: [table(1, 'c', 'e'), table(2, 'd', 'f'), table(3, 'm', 'n'), table(4, 'e', 'g')],
    1: [table(10, 'a', 'b'), table(11, 'c', 'd'), table(12, 'g', 'h'), table(13, 'i', 'j'), table(14, 'o', 'p')],
  });
  // The inputs span c..n, so i..j overlaps their range although no single level-0 file overlaps it.
  assert.equal(show(new CompactionPicker(POLICY).pick(v)), { from: '0->1', inputs: [[0, [1, 2, 3, 4]], [1, [11, 12, 13]]], trivialMove: false });
});

test('pending compaction bytes: level 0 and level 1 once level 0 reaches its trigger, counting the flushes ahead; a deeper level its excess times (multiplier + 1)', () => {
  const l0 = [table(1, 'a', 'm', 10 * KiB), table(2, 'f', 'z', 10 * KiB), table(3, 'a', 'z', 10 * KiB)];
  const v = version({ 0: l0, 1: [table(10, 'a', 'z', 50 * KiB)], 2: [table(11, 'a', 'z', 1100 * KiB)] });
  const deeper = 100 * KiB * (POLICY.levelMultiplier + 1);
  assert.is(pendingCompactionBytes(v, POLICY), deeper, 'three level-0 tables, under the trigger of 4');
  assert.is(pendingCompactionBytes(v, POLICY, 1), deeper + 80 * KiB, 'with one flush ahead: level 0 and level 1 too');
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

/** A picker whose estimate of what a file's tombstones cover is `covers[fileNumber]`; `calls` counts estimates. */
function coveringPicker(covers: Record<number, number>) {
  const calls: number[] = [];
  const picker = new CompactionPicker(POLICY, (_v, _level, file) => {
    calls.push(file.fileNumber);
    return covers[file.fileNumber] ?? 0;
  });
  return { picker, calls };
}

const withTombstones = (t: TableMeta): TableMeta => ({ ...t, rangeDeletions: 1 });

test('a deeper level gives the file whose range tombstones cover the most bytes below it, before the round-robin one', () => {
  const v = version({
    1: [table(10, 'a', 'c', 40 * KiB), withTombstones(table(11, 'd', 'f', 40 * KiB)), withTombstones(table(12, 'm', 'p', 40 * KiB))],
    2: [table(20, 'a', 'z')],
  });
  assert.equal(show(coveringPicker({ 11: 2 * KiB, 12: 300 * KiB }).picker.pick(v))?.inputs, [[1, [12]], [2, [20]]]);
  assert.equal(show(coveringPicker({ 11: 300 * KiB, 12: 2 * KiB }).picker.pick(v))?.inputs, [[1, [11]], [2, [20]]]);
});

test('a file whose range tombstones cover nothing below is not preferred: round-robin goes on', () => {
  const v = version({ 1: [table(10, 'a', 'c', 40 * KiB), withTombstones(table(11, 'd', 'f', 40 * KiB)), table(12, 'm', 'p', 40 * KiB)], 2: [table(20, 'a', 'z')] });
  assert.equal(show(coveringPicker({ 11: 0 }).picker.pick(v))?.inputs, [[1, [10]], [2, [20]]]);
  assert.equal(show(new CompactionPicker(POLICY).pick(v))?.inputs, [[1, [10]], [2, [20]]], 'without an estimate, tombstones count nothing');
});

test('a level within its target is due when its tombstones cover more below than it lacks: the compensated score', () => {
  const v = version({ 1: [table(10, 'a', 'c', 30 * KiB), withTombstones(table(11, 'd', 'f', 20 * KiB))], 2: [table(20, 'a', 'z', 500 * KiB)] });
  assert.is(new CompactionPicker(POLICY).pick(v), undefined, 'by bytes alone, level 1 holds 50 of its 100 KiB');
  assert.is(coveringPicker({ 11: 40 * KiB }).picker.pick(v), undefined, '50 + 40 KiB covered is still within 100 KiB');
  const { picker } = coveringPicker({ 11: 250 * KiB });
  assert.equal(picker.scores(v).slice(0, 3), [0, 3, 0.5]);
  assert.equal(show(picker.pick(v)), { from: '1->2', inputs: [[1, [11]], [2, [20]]], trivialMove: false });
});

test('level 0 is due below its file trigger when its tombstones cover more than level 1 may hold', () => {
  const v = version({ 0: [withTombstones(table(1, 'a', 'm', 1 * KiB))], 1: [table(10, 'a', 'f', 90 * KiB), table(11, 'g', 'z', 5 * KiB)] });
  assert.is(coveringPicker({ 1: 40 * KiB }).picker.pick(v), undefined);
  const { picker } = coveringPicker({ 1: 150 * KiB });
  assert.is(picker.scores(v)[0], 1.5);
  assert.equal(show(picker.pick(v)), { from: '0->1', inputs: [[0, [1]], [1, [10, 11]]], trivialMove: false });
});

test('with every level within its target, a file whose tombstones cover at least half of what its compaction reads is compacted down', () => {
  const files = { 1: [table(10, 'a', 'c', 30 * KiB), withTombstones(table(11, 'd', 'f', 2 * KiB))], 2: [table(20, 'd', 'e', 30 * KiB), table(21, 'g', 'z', 400 * KiB)] };
  const v = version(files);
  assert.is(coveringPicker({ 11: 15 * KiB }).picker.pick(v), undefined, '15 KiB covered of the 32 KiB it reads');
  const { picker } = coveringPicker({ 11: 16 * KiB });
  assert.equal(picker.scores(v).slice(0, 3), [0, (32 + 16) / 100, 0.43], 'no level is due');
  assert.equal(show(picker.pick(v)), { from: '1->2', inputs: [[1, [11]], [2, [20]]], trivialMove: false });
  const alone = version({ 0: [withTombstones(table(1, 'x', 'y', 1 * KiB))], 3: [table(30, 'a', 'z', 50 * KiB)] });
  assert.equal(show(coveringPicker({ 1: 600 }).picker.pick(alone)), { from: '0->1', inputs: [[0, [1]]], trivialMove: true }, 'nothing below to merge with: a move');
});

test('what a file\'s tombstones cover is estimated once per file and level, not per pick', () => {
  const { picker, calls } = coveringPicker({ 11: 250 * KiB, 12: 5 * KiB });
  const tombstoned = withTombstones(table(11, 'd', 'f', 20 * KiB));
  const v1 = version({ 1: [table(10, 'a', 'c', 30 * KiB), tombstoned], 2: [table(20, 'a', 'z', 500 * KiB)] });
  picker.pick(v1);
  picker.pick(v1);
  picker.scores(v1);
  assert.equal(calls, [11]);
  const v2 = v1.apply({ added: [{ level: 1, table: withTombstones(table(12, 'x', 'y', 1 * KiB)) }] });
  picker.pick(v2);
  assert.equal(calls, [11, 12], 'a new version: only its new file is estimated');
  const v3 = v2.apply({ removed: [{ level: 1, fileNumber: 11 }], added: [{ level: 2, table: tombstoned }] });
  assert.is(picker.coveredBytes(v3, tombstoned), 250 * KiB);
  assert.equal(calls, [11, 12, 11], 'a file moved down is estimated again against what lies below it now');
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

test('pickRangeToBottom() takes the overlapping files of every level into the deepest one', () => {
  const picker = new CompactionPicker(POLICY);
  const v = version({
    1: [table(1, 'a', 'b'), table(2, 'c', 'e'), table(3, 'f', 'h'), table(4, 'x', 'z')],
    2: [table(5, 'a', 'a'), table(6, 'd', 'g'), table(7, 'y', 'y')],
    3: [table(8, 'a', 'c'), table(9, 'g', 'm'), table(10, 'n', 'p')],
  });
  const b = Buffer.from;
  assert.equal(show(picker.pickRangeToBottom(v, b('d'), b('f'))), { from: '1->3', inputs: [[1, [2, 3]], [2, [6]], [3, [8, 9]]], trivialMove: false });
  assert.equal(show(picker.pickRangeToBottom(v, undefined, b('b')))?.inputs, [[1, [1]], [2, [5]], [3, [8]]], 'an open start');
  assert.equal(show(picker.pickRangeToBottom(v, b('w'), undefined))?.inputs, [[1, [4]], [2, [7]]], 'an open end');
  assert.equal(show(picker.pickRangeToBottom(v, undefined, undefined))?.inputs, [[1, [1, 2, 3, 4]], [2, [5, 6, 7]], [3, [8, 9, 10]]], 'everything');
  assert.is(picker.pickRangeToBottom(v, b('i'), b('m')), undefined, 'only the deepest level overlaps i..m: nothing to move down');
  assert.is(picker.pickRangeToBottom(v, b('q'), b('r')), undefined, 'nothing overlaps q..r');
});

test('pickRangeToBottom() widens the range level by level: a deeper file meeting a file taken above is taken', () => {
  const picker = new CompactionPicker(POLICY);
  // 'e' overlaps file 1 only; file 1 reaches 'h', so file 3 of level 2 (g..j) is taken, and then
  // level 3's file 5 (i..k), which meets file 3 but not the range asked for.
  const v = version({ 1: [table(1, 'd', 'h')], 2: [table(2, 'a', 'b'), table(3, 'g', 'j')], 3: [table(4, 'a', 'c'), table(5, 'i', 'k'), table(6, 'x', 'z')] });
  assert.equal(show(picker.pickRangeToBottom(v, Buffer.from('e'), Buffer.from('e')))?.inputs, [[1, [1]], [2, [3]], [3, [5]]]);
});

test('pickRangeToBottom() from level 0 takes every level-0 file once any overlaps the range', () => {
  const picker = new CompactionPicker(POLICY);
  const v = version({ 0: [table(1, 'a', 'b'), table(2, 'm', 'n')], 1: [table(3, 'c', 'd'), table(4, 'x', 'y')] });
  assert.equal(show(picker.pickRangeToBottom(v, Buffer.from('a'), Buffer.from('a'))), { from: '0->1', inputs: [[0, [1, 2]], [1, [3]]], trivialMove: false });
  assert.is(picker.pickRangeToBottom(v, Buffer.from('p'), Buffer.from('q')), undefined);
  const onlyL0 = version({ 0: [table(5, 'a', 'b', 1)] });
  assert.equal(show(picker.pickRangeToBottom(onlyL0, undefined, undefined)), { from: '0->1', inputs: [[0, [5]]], trivialMove: false }, 'level 0 alone goes to level 1, rewritten');
});

test('pickRangeToBottom() does not depend on scores: a level within its target is still compacted', () => {
  const v = version({ 2: [table(1, 'a', 'b', 1)], 4: [table(2, 'a', 'a', 1)] });
  assert.equal(show(new CompactionPicker(POLICY).pickRangeToBottom(v, undefined, undefined)), { from: '2->4', inputs: [[2, [1]], [4, [2]]], trivialMove: false });
});

test.run();
