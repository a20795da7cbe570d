// RecoveryCoordinator (src/shard/recovery-coordinator.ts), through the twoPhase hooks it hands
// each shard's engine: the decision (a batch that spans shards committed only if a Commit
// record survived in some shard and every participant still has its part: its Prepare record,
// or the part already in a table), and the meeting points (no shard goes on until every shard
// has reported; a shard that fails to open fails the ones waiting).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { SeqNum } from '../src/base/index.js';
import { SequenceClock, type TwoPhaseScan } from '../src/engine/index.js';
import { RecoveryCoordinator } from '../src/shard/recovery-coordinator.js';

/** One shard's scan of its WALs. */
function scan(o: { prepared?: [SeqNum, number[]][]; committed?: SeqNum[]; maxSeq?: SeqNum; flushedSeq?: SeqNum } = {}): TwoPhaseScan {
  return { prepared: new Map(o.prepared ?? []), committed: new Set(o.committed ?? []), maxSeq: o.maxSeq ?? 0, flushedSeq: o.flushedSeq ?? 0 };
}

function coordinator(shards: number, clock = new SequenceClock(0)) {
  let syncs = 0;
  const c = new RecoveryCoordinator(shards, clock, async () => {
    syncs++;
  });
  return { c, clock, syncs: () => syncs };
}

/** Every shard reports its scan; resolves to the sets each was told, as sorted arrays. */
async function decideAll(scans: TwoPhaseScan[], clock?: SequenceClock): Promise<SeqNum[][]> {
  const { c } = coordinator(scans.length, clock);
  const answers = await Promise.all(scans.map((s, i) => c.hooks(i).decide(s)));
  return answers.map((set) => [...set].sort((a, b) => a - b));
}

async function isPending(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
  return !done;
}

test('no shard learns the decision until every shard has reported, then all learn the same one', async () => {
  const { c } = coordinator(3);
  const first = c.hooks(0).decide(scan({ prepared: [[10, [0, 2]]], committed: [10] }));
  const second = c.hooks(2).decide(scan({ prepared: [[10, [0, 2]]] }));
  assert.ok(await isPending(first), 'two of three shards have reported');
  assert.ok(await isPending(second));
  const third = c.hooks(1).decide(scan());
  const answers = await Promise.all([first, second, third]);
  for (const a of answers) assert.equal([...a], [10]);
});

test('a batch with a Commit record in one shard and a Prepare in every participant committed', async () => {
  const answers = await decideAll([scan({ prepared: [[10, [0, 1]]] }), scan({ prepared: [[10, [0, 1]]], committed: [10] })]);
  assert.equal(answers, [[10], [10]]);
});

test('a batch with Prepare records everywhere and no Commit record anywhere did not commit', async () => {
  const answers = await decideAll([scan({ prepared: [[10, [0, 1]]] }), scan({ prepared: [[10, [0, 1]]] })]);
  assert.equal(answers, [[], []]);
});

test('a Commit record is not enough when a participant lost its Prepare and has not the part in a table', async () => {
  // A power cut: shard 1's unsynced Prepare is gone while shard 0's Prepare and Commit reached the disk.
  const answers = await decideAll([scan({ prepared: [[10, [0, 1]]], committed: [10] }), scan({ flushedSeq: 9 })]);
  assert.equal(answers, [[], []]);
});

test('a participant without a Prepare whose table already holds the batch counts as having its part', async () => {
  const answers = await decideAll([scan({ prepared: [[10, [0, 1]]], committed: [10] }), scan({ flushedSeq: 12 })]);
  assert.equal(answers, [[10], [10]]);
});

test('a Commit record with no Prepare anywhere needs no replay: it is not in the decision', async () => {
  const answers = await decideAll([scan({ committed: [10], flushedSeq: 20 }), scan({ flushedSeq: 20 })]);
  assert.equal(answers, [[], []]);
});

test('a shard that is not a participant does not decide a batch', async () => {
  // Shard 2 holds nothing of batch 10 and never flushed: it is not among the participants.
  const answers = await decideAll([scan({ prepared: [[10, [0, 1]]], committed: [10] }), scan({ prepared: [[10, [0, 1]]] }), scan()]);
  assert.equal(answers, [[10], [10], [10]]);
});

test('batches are decided each on its own', async () => {
  const answers = await decideAll([
    scan({ prepared: [[10, [0, 1]], [20, [0, 1]], [30, [0, 1]]], committed: [10, 30] }),
    scan({ prepared: [[10, [0, 1]], [20, [0, 1]]], committed: [20] }),
  ]);
  // 10: Commit in shard 0, Prepares in both. 20: Commit in shard 1, Prepares in both. 30: shard 1 lost its Prepare.
  assert.equal(answers[0], [10, 20]);
});

test('the clock moves past every sequence number any shard has seen, committed or not', async () => {
  const clock = new SequenceClock(0);
  await decideAll([scan({ maxSeq: 40 }), scan({ maxSeq: 75 }), scan({ maxSeq: 12 })], clock);
  assert.equal([clock.last, clock.published], [75, 75]);
  assert.is(clock.allocate(1), 76);
});

test('no shard is told that recovery is over until every shard has recovered', async () => {
  const { c } = coordinator(2);
  const a = c.hooks(0).recovered();
  assert.ok(await isPending(a));
  const b = c.hooks(1).recovered();
  await Promise.all([a, b]);
});

test('a shard that fails to open fails every shard waiting to decide or to finish recovery', async () => {
  const { c } = coordinator(3);
  const deciding = c.hooks(0).decide(scan());
  const { c: c2 } = coordinator(2);
  const finishing = c2.hooks(0).recovered();
  const err = new Error('shard 2: CORRUPTION');
  c.fail(err);
  c2.fail(err);
  assert.is(await deciding.catch((e: unknown) => e), err);
  assert.is(await finishing.catch((e: unknown) => e), err);
  assert.is(await c.hooks(1).decide(scan()).catch((e: unknown) => e), err, 'a shard reporting after the failure learns of it at once');
});

test('syncAllWals is handed to every shard as given', async () => {
  const { c, syncs } = coordinator(2);
  await c.hooks(0).syncAllWals();
  await c.hooks(1).syncAllWals();
  assert.is(syncs(), 2);
});

test.run();
