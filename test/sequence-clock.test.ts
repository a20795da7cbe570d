// SequenceClock (src/engine/sequence-clock.ts): allocation, completion in any order,
// publication of the longest complete prefix only, failed ranges as holes, whenPublished()
// advanceTo(), and a number reserved ahead by an ingest (reserveAhead, mustWait, park).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SequenceClock } from '../src/engine/index.js';
import { Rng } from './helpers.js';

/** Whether `p` has settled once pending promise reactions have run. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  await new Promise<void>((r) => setImmediate(r));
  return done;
}

test('allocate() hands out consecutive, never reused ranges after the starting sequence', () => {
  const clock = new SequenceClock(41);
  assert.is(clock.allocate(1), 42);
  assert.is(clock.allocate(5), 43);
  assert.is(clock.allocate(2), 48);
  assert.is(clock.last, 49);
  assert.is(clock.published, 41, 'nothing is published before it completes');
});

test('ranges completed in allocation order are published one after another', () => {
  const clock = new SequenceClock(0);
  const a = clock.allocate(3);
  const b = clock.allocate(2);
  clock.complete(a, 3);
  assert.is(clock.published, 3);
  clock.complete(b, 2);
  assert.is(clock.published, 5);
});

test('a range completed before a lower one is published only once every lower range is complete', () => {
  const clock = new SequenceClock(10);
  const a = clock.allocate(2); // 11..12
  const b = clock.allocate(1); // 13
  const c = clock.allocate(4); // 14..17
  const d = clock.allocate(1); // 18
  clock.complete(c, 4);
  clock.complete(d, 1);
  assert.is(clock.published, 10, 'c and d wait for a and b');
  clock.complete(b, 1);
  assert.is(clock.published, 10, 'b waits for a');
  clock.complete(a, 2);
  assert.is(clock.published, 18, 'a completes the prefix: everything through d is published at once');
});

test('a range in the middle still incomplete stops publication there', () => {
  const clock = new SequenceClock(0);
  const a = clock.allocate(1);
  const b = clock.allocate(1);
  const c = clock.allocate(1);
  clock.complete(a, 1);
  clock.complete(c, 1);
  assert.is(clock.published, 1);
  clock.complete(b, 1);
  assert.is(clock.published, 3);
});

test('a failed range completed as a hole lets the ranges after it be published', () => {
  // The pipeline completes a failed write's range without writing it anywhere: to the clock
  // a hole is a range like any other.
  const clock = new SequenceClock(0);
  const failed = clock.allocate(3);
  const ok = clock.allocate(1);
  clock.complete(ok, 1);
  assert.is(clock.published, 0);
  clock.complete(failed, 3);
  assert.is(clock.published, 4);
});

test('whenPublished() resolves at once for a published sequence and waits for a later one', async () => {
  const clock = new SequenceClock(5);
  assert.ok(await settled(clock.whenPublished(5)));
  assert.ok(await settled(clock.whenPublished(0)));
  const a = clock.allocate(2); // 6..7
  const b = clock.allocate(1); // 8
  const at6 = clock.whenPublished(6);
  const at8 = clock.whenPublished(8);
  clock.complete(b, 1);
  assert.not.ok(await settled(at6), 'b alone publishes nothing');
  assert.not.ok(await settled(at8));
  clock.complete(a, 2);
  assert.ok(await settled(at6));
  assert.ok(await settled(at8));
});

test('whenPublished() waiters wake as publication passes them, not before', async () => {
  const clock = new SequenceClock(0);
  const ranges = [clock.allocate(1), clock.allocate(1), clock.allocate(1)];
  const woken: number[] = [];
  for (const seq of [3, 1, 2]) void clock.whenPublished(seq).then(() => woken.push(seq));
  clock.complete(ranges[0]!, 1);
  await settled(Promise.resolve());
  assert.equal(woken, [1]);
  clock.complete(ranges[1]!, 1);
  await settled(Promise.resolve());
  assert.equal(woken, [1, 2]);
  clock.complete(ranges[2]!, 1);
  await settled(Promise.resolve());
  assert.equal(woken, [1, 2, 3]);
});

test('advanceTo() moves an idle clock forward, never back', () => {
  const clock = new SequenceClock(10);
  clock.advanceTo(50);
  assert.equal([clock.last, clock.published], [50, 50]);
  clock.advanceTo(20);
  assert.equal([clock.last, clock.published], [50, 50], 'a lower sequence is ignored');
  assert.is(clock.allocate(1), 51, 'allocation goes on past it');
});

test('advanceTo() with a range allocated and not complete is a bug', () => {
  const clock = new SequenceClock(0);
  clock.allocate(1);
  assert.throws(() => clock.advanceTo(100), /invariant/);
});


test('a number reserved ahead: allocations go on below it, then wait; takeReserved() skips to it and resumes them in order', async () => {
  const clock = new SequenceClock(10);
  const s = clock.reserveAhead(5);
  assert.is(s, 15);
  assert.is(clock.mustWait(4), false, '11..14 stay below the reserved number');
  const a = clock.allocate(2);
  assert.is(a, 11);
  assert.is(clock.mustWait(2), false);
  assert.is(clock.mustWait(3), true, 'an allocation reaching the reserved number waits');
  const order: number[] = [];
  clock.park(() => order.push(clock.allocate(3)));
  assert.is(clock.mustWait(1), true, 'nothing passes an allocation parked before it');
  clock.park(() => order.push(clock.allocate(1)));
  clock.complete(a, 2);
  assert.is(clock.published, 12);
  clock.closeGate();
  assert.is(clock.mustWait(1), true, 'with the gate closed, every allocation waits');
  const published = clock.whenPublished(15);
  assert.is(clock.takeReserved(), 15);
  assert.equal(order, [16, 19], 'the parked allocations went on above it, in the order parked');
  assert.is(clock.published, 14, 'the numbers skipped below it complete as a hole');
  assert.is(await settled(published), false, 'the reserved number is published only once completed');
  clock.complete(15, 1);
  assert.is(await settled(published), true);
  assert.is(clock.mustWait(1), false);
});

test('a reservation given up lets the parked allocations go on where the clock stands', () => {
  const clock = new SequenceClock(0);
  clock.reserveAhead(3);
  clock.allocate(2);
  const got: number[] = [];
  clock.park(() => got.push(clock.allocate(5)));
  assert.equal(got, []);
  clock.giveUpReserved();
  assert.equal(got, [3], 'no hole: the reserved number was never written');
  assert.is(clock.reserved, undefined);
  let ran = false;
  clock.park(() => (ran = true));
  assert.ok(ran, 'park() with nothing reserved runs at once');
});

test('ranges completed in any order publish the longest complete prefix, far apart, past 2^32 and with holes of millions', () => {
  // A model: the clock's published against the longest complete prefix, computed by hand.
  const rng = new Rng(0x2545f491);
  const rand = (n: number) => rng.int(n);
  for (const start of [0, 2 ** 32 - 300, 2 ** 40 + 7]) {
    for (let round = 0; round < 20; round++) {
      const clock = new SequenceClock(start);
      const ranges: { first: number; count: number }[] = [];
      for (let i = 0; i < 2000; i++) {
        // Mostly small writes; now and then a batch of thousands, or a hole of millions (an
        // ingest's), so that ranges complete further ahead than the clock's table reaches.
        const kind = rand(100);
        const count = kind === 0 ? 1 + rand(3_000_000) : kind < 5 ? 1 + rand(5000) : 1 + rand(4);
        ranges.push({ first: clock.allocate(count), count });
      }
      // Completion order: shuffled within windows (the writes in flight), one window of all.
      const window = round % 5 === 4 ? ranges.length : 2 + rand(300);
      const order = ranges.map((_, i) => i);
      for (let w = 0; w < order.length; w += window) {
        for (let i = Math.min(order.length, w + window) - 1; i > w; i--) {
          const j = w + rand(i - w + 1);
          [order[i], order[j]] = [order[j]!, order[i]!];
        }
      }
      const complete = new Set<number>();
      let prefix = 0;
      for (const i of order) {
        clock.complete(ranges[i]!.first, ranges[i]!.count);
        complete.add(i);
        while (complete.has(prefix)) prefix++;
        const expected = prefix === 0 ? start : ranges[prefix - 1]!.first + ranges[prefix - 1]!.count - 1;
        if (clock.published !== expected) assert.unreachable(`start ${start}, round ${round}: published ${clock.published}, expected ${expected}`);
      }
      assert.is(clock.published, clock.last);
    }
  }
});

test.run();
