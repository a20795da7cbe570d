// MergingIterator against a model: the sorted union of its children's entries.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compareBytes, compareInternal, MergingIterator, ValueKind, type InternalIterator, type SeqNum } from '../src/base/index.js';

interface Entry {
  key: Buffer;
  seq: SeqNum;
}

const byInternal = (a: Entry, b: Entry) => compareInternal(a.key, a.seq, b.key, b.seq);

/** A child over sorted entries in an array. */
class ArrayIterator implements InternalIterator {
  #i = -1;
  closed = false;
  constructor(readonly entries: Entry[]) {}
  valid(): boolean {
    return this.#i >= 0 && this.#i < this.entries.length;
  }
  seekToFirst(): void {
    this.#i = 0;
  }
  seekToLast(): void {
    this.#i = this.entries.length - 1;
  }
  seek(key: Uint8Array): void {
    this.#i = this.entries.findIndex((e) => compareBytes(e.key, key) >= 0);
    if (this.#i < 0) this.#i = this.entries.length;
  }
  seekForPrev(key: Uint8Array): void {
    let i = this.entries.length - 1;
    while (i >= 0 && compareBytes(this.entries[i]!.key, key) > 0) i--;
    this.#i = i;
  }
  next(): void {
    this.#i++;
  }
  prev(): void {
    this.#i--;
  }
  key(): Uint8Array {
    return this.entries[this.#i]!.key;
  }
  seq(): SeqNum {
    return this.entries[this.#i]!.seq;
  }
  kind(): ValueKind {
    return ValueKind.Put;
  }
  value(): Uint8Array {
    return this.entries[this.#i]!.key;
  }
  close(): void {
    this.closed = true;
  }
}

/** xorshift32, so that a failure can be replayed. */
function random(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
}

/** `children` sorted runs sharing `keys` user keys, each (key, seq) in exactly one run. */
function makeRuns(children: number, entries: number, keys: number, seed: number): { runs: Entry[][]; all: Entry[] } {
  const rnd = random(seed);
  const runs: Entry[][] = Array.from({ length: children }, () => []);
  const all: Entry[] = [];
  for (let seq = 1; seq <= entries; seq++) {
    const e = { key: Buffer.from(`k${String(rnd(keys)).padStart(4, '0')}`), seq };
    runs[rnd(children)]!.push(e);
    all.push(e);
  }
  for (const r of runs) r.sort(byInternal);
  all.sort(byInternal);
  return { runs, all };
}

const at = (it: InternalIterator): string => (it.valid() ? `${Buffer.from(it.key()).toString()}@${it.seq()}` : 'end');
const show = (e: Entry | undefined): string => (e === undefined ? 'end' : `${e.key.toString()}@${e.seq}`);

for (const children of [1, 2, 3, 7, 16]) {
  test(`a merge of ${children} children walks forward and backward in internal order`, () => {
    const { runs, all } = makeRuns(children, 600, 150, children);
    const it = new MergingIterator(runs.map((r) => new ArrayIterator(r)));
    const forward: string[] = [];
    for (it.seekToFirst(); it.valid(); it.next()) forward.push(at(it));
    assert.equal(forward, all.map(show));
    const backward: string[] = [];
    for (it.seekToLast(); it.valid(); it.prev()) backward.push(at(it));
    assert.equal(backward, all.map(show).reverse());
  });
}

test('seek() and seekForPrev() land where the sorted union says, for present and absent keys', () => {
  const { runs, all } = makeRuns(5, 400, 100, 42);
  const it = new MergingIterator(runs.map((r) => new ArrayIterator(r)));
  for (let k = -1; k <= 101; k++) {
    const key = Buffer.from(`k${String(k).padStart(4, '0')}`);
    it.seek(key);
    assert.is(at(it), show(all.find((e) => compareBytes(e.key, key) >= 0)), `seek ${key}`);
    it.seekForPrev(key);
    assert.is(at(it), show(all.filter((e) => compareBytes(e.key, key) <= 0).pop()), `seekForPrev ${key}`);
  }
});

test('random next() and prev() after a seek follow the model, across direction changes', () => {
  for (const children of [2, 4, 9]) {
    const { runs, all } = makeRuns(children, 500, 60, 7 * children);
    const it = new MergingIterator(runs.map((r) => new ArrayIterator(r)));
    const rnd = random(children);
    for (let round = 0; round < 40; round++) {
      const key = Buffer.from(`k${String(rnd(60)).padStart(4, '0')}`);
      it.seek(key);
      let pos = all.findIndex((e) => compareBytes(e.key, key) >= 0);
      if (pos < 0) pos = all.length;
      for (let step = 0; step < 30 && it.valid(); step++) {
        if (rnd(2) === 0) {
          it.next();
          pos++;
        } else {
          it.prev();
          pos--;
        }
        assert.is(at(it), show(all[pos]), `children ${children}, round ${round}, step ${step}`);
        if (pos < 0 || pos >= all.length) break;
      }
    }
  }
});

test('a merge of no children, or of empty ones, is never valid; close() closes every child', () => {
  const none = new MergingIterator([]);
  none.seekToFirst();
  assert.is(none.valid(), false);
  const children = [new ArrayIterator([]), new ArrayIterator([])];
  const empty = new MergingIterator(children);
  empty.seekToLast();
  assert.is(empty.valid(), false);
  empty.seek(Buffer.from('a'));
  assert.is(empty.valid(), false);
  empty.close();
  assert.ok(children.every((c) => c.closed));
});

test.run();
