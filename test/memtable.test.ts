// Tests of src/memtable against a reference model: a plain array kept sorted with
// compareInternal. Randomized tests draw from a seeded PRNG; a failure prints its seed, and
// STRATADB_TEST_SEED=<seed> replays it.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyBatch, batchEncodedLength, compareBytes, compareInternal, encodeBatchInto, MAX_SEQ, StrataError, ValueKind, type BatchEntry, type InternalIterator, type SeqNum } from '../src/base/index.js';
import { native } from '../src/base/native.js';
import { Memtable, MemtablePool, type SharedMemtable } from '../src/memtable/index.js';

interface Entry {
  key: Uint8Array;
  seq: SeqNum;
  kind: ValueKind;
  value: Uint8Array;
}

/** mulberry32: small, seedable, good enough to draw test data. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const fixedSeed = process.env.STRATADB_TEST_SEED;

/** Runs `body` with a seeded PRNG; prints the seed if it throws. */
function seeded(name: string, body: (random: () => number) => void): void {
  test(name, () => {
    const seed = fixedSeed !== undefined ? Number(fixedSeed) : Math.floor(Math.random() * 2 ** 32);
    try {
      body(prng(seed));
    } catch (err) {
      console.error(`\n${name}: failed with seed ${seed} (replay: STRATADB_TEST_SEED=${seed})`);
      throw err;
    }
  });
}

const int = (random: () => number, n: number) => Math.floor(random() * n);
const bytes = (...b: number[]) => Uint8Array.from(b);
const text = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const describe = (e: { key: Uint8Array; seq: SeqNum }) => `${hex(e.key)}@${e.seq}`;

/** Keys that stress the comparison: short keys, 8- and 16-byte-prefix ties around the 16-byte boundary, long keys. */
function keyMaker(random: () => number): (existing: readonly Uint8Array[]) => Uint8Array {
  const int = (n: number) => Math.floor(random() * n);
  const alphabet = [0x00, 0x01, 0x61, 0x7f, 0x80, 0xff];
  const pick = () => alphabet[int(alphabet.length)]!;
  const sharedPrefixes = [text('abcdefgh'), bytes(0, 0, 0, 0, 0, 0, 0, 0), bytes(0xff, 0xff, 0xff, 0xff, 0x80, 0x7f, 0, 1), text('000000000000'), text('0000000000000000')];
  return (existing) => {
    const mode = int(10);
    if (mode < 2 && existing.length > 0) return existing[int(existing.length)]!;
    if (mode < 4) return Uint8Array.from({ length: int(4) }, pick);
    if (mode < 6) return Uint8Array.from({ length: 4 + int(6) }, pick);
    if (mode < 8) {
      const prefix = sharedPrefixes[int(sharedPrefixes.length)]!;
      const tail = Uint8Array.from({ length: int(10) }, pick);
      const key = new Uint8Array(prefix.length + tail.length);
      key.set(prefix);
      key.set(tail, prefix.length);
      return key;
    }
    const key = Uint8Array.from({ length: int(301) }, () => int(256));
    if (mode === 8 && key.length >= 8) key.set(sharedPrefixes[0]!);
    return key;
  };
}

/** Distinct sequence numbers in random order. */
function shuffledSeqs(random: () => number, count: number): SeqNum[] {
  const seqs = Array.from({ length: count }, (_, i) => i * 3 + Math.floor(random() * 3));
  for (let i = seqs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [seqs[i], seqs[j]] = [seqs[j]!, seqs[i]!];
  }
  return seqs;
}

function randomValue(random: () => number, kind: ValueKind): Uint8Array {
  if (kind === ValueKind.Delete) return new Uint8Array(0);
  const length = random() < 0.05 ? Math.floor(random() * 5000) : Math.floor(random() * 40);
  return Uint8Array.from({ length }, () => Math.floor(random() * 256));
}

const byInternal = (a: Entry, b: Entry) => compareInternal(a.key, a.seq, b.key, b.seq);

/** Index of the first reference entry whose user key is >= key (ref.length if none). */
function lowerBound(ref: readonly Entry[], key: Uint8Array): number {
  let lo = 0;
  let hi = ref.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(ref[mid]!.key, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first reference entry whose user key is > key (ref.length if none). */
function upperBound(ref: readonly Entry[], key: Uint8Array): number {
  let lo = 0;
  let hi = ref.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(ref[mid]!.key, key) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A full scan forward, then backward, meets exactly `ref` (sorted), then the end. */
function assertScans(it: InternalIterator, ref: readonly Entry[]): void {
  it.seekToFirst();
  for (let i = 0; i < ref.length; i++, it.next()) assertAt(it, ref[i], `forward #${i}`);
  assertAt(it, undefined, 'forward end');
  it.seekToLast();
  for (let i = ref.length - 1; i >= 0; i--, it.prev()) assertAt(it, ref[i], `backward #${i}`);
  assertAt(it, undefined, 'backward end');
}

function assertAt(it: InternalIterator, expected: Entry | undefined, where: string): void {
  if (expected === undefined) {
    assert.ok(!it.valid(), `${where}: expected the end, at ${it.valid() ? describe({ key: it.key(), seq: it.seq() }) : ''}`);
    return;
  }
  assert.ok(it.valid(), `${where}: expected ${describe(expected)}, iterator not valid`);
  assert.is(hex(it.key()), hex(expected.key), `${where}: key`);
  assert.is(it.seq(), expected.seq, `${where}: seq of ${hex(expected.key)}`);
  assert.is(it.kind(), expected.kind, `${where}: kind of ${describe(expected)}`);
  assert.is(hex(it.value()), hex(expected.value), `${where}: value of ${describe(expected)}`);
}

/** Fills a memtable and a sorted reference with the same `count` random entries. */
function fill(random: () => number, count: number, options: { arenaChunkBytes?: number } = {}) {
  const mem = new Memtable(options);
  const entries: Entry[] = [];
  const keys: Uint8Array[] = [];
  const nextKey = keyMaker(random);
  for (const seq of shuffledSeqs(random, count)) {
    const key = nextKey(keys);
    keys.push(key);
    const kind = random() < 0.2 ? ValueKind.Delete : ValueKind.Put;
    const entry = { key, seq, kind, value: randomValue(random, kind) };
    mem.add(entry.seq, entry.kind, entry.key, entry.value);
    entries.push(entry);
  }
  entries.sort(byInternal);
  return { mem, ref: entries, keys, nextKey };
}

seeded('random adds read back like a sorted reference: get, full scans, seeks and steps', (random) => {
  const { mem, ref, keys, nextKey } = fill(random, 6000);
  const int = (n: number) => Math.floor(random() * n);
  assert.is(mem.entryCount, ref.length);
  assert.is(mem.firstSeq, Math.min(...ref.map((e) => e.seq)));
  assert.is(mem.lastSeq, Math.max(...ref.map((e) => e.seq)));
  for (let i = 1; i < ref.length; i++) assert.ok(byInternal(ref[i - 1]!, ref[i]!) < 0, 'the test made a duplicate');

  const it = mem.iterator();
  assertScans(it, ref);

  const maxSeq = mem.lastSeq!;
  const probes = [new Uint8Array(0), new Uint8Array(301).fill(0xff), ...keys.slice(0, 1000)];
  for (let i = 0; i < 1000; i++) probes.push(nextKey([]));
  for (const key of probes) {
    for (const snapshot of [int(maxSeq + 2), int(maxSeq + 2), MAX_SEQ, 0]) {
      let expected: Entry | undefined;
      for (let i = lowerBound(ref, key); i < ref.length && compareBytes(ref[i]!.key, key) === 0; i++) {
        if (ref[i]!.seq <= snapshot) {
          expected = ref[i];
          break;
        }
      }
      const got = mem.get(key, snapshot);
      const where = `get(${hex(key)}, ${snapshot})`;
      if (expected === undefined) {
        assert.is(got, undefined, where);
      } else {
        assert.ok(got !== undefined, `${where}: expected seq ${expected.seq}`);
        assert.is(got.seq, expected.seq, where);
        assert.is(got.kind, expected.kind, where);
        assert.is(hex(got.value), hex(expected.value), where);
      }
    }

    const walk = (start: number, what: string) => {
      let at = start;
      assertAt(it, ref[at], what);
      for (let step = 0; step < 8 && at >= 0 && at < ref.length; step++) {
        if (random() < 0.5) {
          it.next();
          at++;
        } else {
          it.prev();
          at--;
        }
        assertAt(it, ref[at], `${what} step ${step}`);
      }
    };
    it.seek(key);
    walk(lowerBound(ref, key), `seek(${hex(key)})`);
    it.seekForPrev(key);
    walk(upperBound(ref, key) - 1, `seekForPrev(${hex(key)})`);
  }
  it.close();
  it.close();
});

seeded('runs of keys in order (appends, no search) mixed with inserts anywhere keep the order', (random) => {
  const mem = new Memtable({ arenaChunkBytes: 4096 });
  const ref: Entry[] = [];
  const add = (key: Uint8Array, seq: number) => {
    const value = text(String(seq));
    mem.add(seq, ValueKind.Put, key, value);
    ref.push({ key, seq, kind: ValueKind.Put, value });
  };
  let seq = 1;
  let counter = 0;
  const numbered = (n: number, tail = '') => text(`k${String(n).padStart(10, '0')}${tail}`);
  for (let round = 0; round < 60; round++) {
    const mode = int(random, 4);
    for (let i = 0; i < 40; i++) {
      if (mode === 0) add(numbered(counter++), seq++); // after everything: an append
      else if (mode === 1) add(numbered(int(random, counter + 1)), seq++); // anywhere, new versions too
      else if (mode === 2) add(numbered(counter, 'x'.repeat(int(random, 20))), seq++); // same 16 leading bytes as the next append
      else add(numbered(Math.max(0, counter - 1 - int(random, 3))), seq++); // a newer version near the end: sorts before the older
    }
  }
  ref.sort(byInternal);
  const it = mem.iterator();
  assertScans(it, ref);
  it.close();
  for (const e of ref) assert.ok(mem.get(e.key, e.seq)?.seq === e.seq, `get(${describe(e)})`);
});

test('"a" sorts before "a\\0", prefixes before longer keys, bytes compare unsigned', () => {
  const keys = [
    bytes(),
    bytes(0),
    bytes(0, 0),
    text('a'),
    bytes(0x61, 0),
    bytes(0x61, 0, 0, 0, 0, 0, 0, 0),
    bytes(0x61, 0, 0, 0, 0, 0, 0, 0, 0),
    bytes(0x61, 0, 0, 0, 0, 0, 0, 0, 1),
    bytes(0x61, 0, 0, 0, 0, 0, 0, 1),
    text('ab'),
    bytes(0x7f),
    bytes(0x80),
    bytes(0xff, 0xff, 0xff, 0xff),
    bytes(0xff, 0xff, 0xff, 0xff, 0),
    bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
  ];
  const mem = new Memtable();
  [...keys].reverse().forEach((key, i) => mem.add(i + 1, ValueKind.Put, key, key));
  const it = mem.iterator();
  const seen: string[] = [];
  for (it.seekToFirst(); it.valid(); it.next()) seen.push(hex(it.key()));
  assert.equal(seen, keys.map(hex));
  for (const key of keys) assert.is(hex(mem.get(key, MAX_SEQ)!.value), hex(key));
  assert.is(mem.get(bytes(0x61, 0, 0), MAX_SEQ), undefined);
});

test('versions of one key come newest first, and get() honours the snapshot', () => {
  const mem = new Memtable();
  const key = text('k');
  mem.add(10, ValueKind.Put, key, text('v10'));
  mem.add(30, ValueKind.Delete, key, new Uint8Array(0));
  mem.add(20, ValueKind.Put, key, text('v20'));
  const it = mem.iterator();
  const seqs: number[] = [];
  for (it.seekToFirst(); it.valid(); it.next()) seqs.push(it.seq());
  assert.equal(seqs, [30, 20, 10]);
  assert.is(mem.get(key, 9), undefined);
  assert.is(new TextDecoder().decode(mem.get(key, 10)!.value), 'v10');
  assert.is(new TextDecoder().decode(mem.get(key, 29)!.value), 'v20');
  assert.equal(mem.get(key, 30), { seq: 30, kind: ValueKind.Delete, value: new Uint8Array(0) });
  it.seek(key);
  assert.is(it.seq(), 30);
  it.seekForPrev(key);
  assert.is(it.seq(), 10);
  it.seekForPrev(text('j'));
  assert.not.ok(it.valid());
  it.seek(text('l'));
  assert.not.ok(it.valid());
});

test('get() through the key index: many versions, out of order, keys that pad alike, long keys, index growth; as the model says', () => {
  const seed = fixedSeed === undefined ? 4242 : Number(fixedSeed);
  const rand = prng(seed);
  // Keys that tie on their first 16 bytes or pad alike ("a", "a\0"), and many plain ones.
  const keys: Uint8Array[] = [text('a'), new Uint8Array([97, 0]), new Uint8Array([97, 0, 0]), new Uint8Array(0)];
  const long = text('0123456789abcdef');
  for (let i = 0; i < 20; i++) keys.push(new Uint8Array([...long, ...text(`-${i}`)]));
  for (let i = 0; i < 6000; i++) keys.push(text(`key${String(i).padStart(6, '0')}`));
  const mem = new Memtable({ arenaChunkBytes: 1 << 16 });
  const versions = new Map<number, { seq: number; value: Uint8Array }[]>();
  const seqs = Array.from({ length: 30_000 }, (_, i) => i + 1);
  // Mostly ascending, some swapped: an older version may arrive after a newer one.
  for (let i = 0; i < seqs.length - 1; i++) if (rand() < 0.05) [seqs[i], seqs[i + 1]] = [seqs[i + 1]!, seqs[i]!];
  for (const seq of seqs) {
    const k = rand() < 0.3 ? Math.floor(rand() * 24) : Math.floor(rand() * keys.length);
    const value = text(`v${seq}`);
    mem.add(seq, ValueKind.Put, keys[k]!, value);
    let list = versions.get(k);
    if (list === undefined) versions.set(k, (list = []));
    list.push({ seq, value });
  }
  for (let probe = 0; probe < 20_000; probe++) {
    const k = Math.floor(rand() * keys.length);
    const snapshot = rand() < 0.5 ? seqs.length : Math.floor(rand() * seqs.length);
    let want: { seq: number; value: Uint8Array } | undefined;
    for (const v of versions.get(k) ?? []) if (v.seq <= snapshot && (want === undefined || v.seq > want.seq)) want = v;
    const got = mem.get(keys[k]!, snapshot);
    assert.is(got?.seq, want?.seq, `seed ${seed}: key #${k} at snapshot ${snapshot}`);
    if (want !== undefined) assert.equal(got!.value, want.value);
  }
  assert.is(mem.get(text('key999999'), seqs.length), undefined);
  assert.is(mem.get(new Uint8Array([97, 0, 0, 0]), seqs.length), undefined);
});

test('add() copies key and value: changing the caller\'s bytes afterwards changes nothing', () => {
  const mem = new Memtable();
  const buffer = Buffer.from('..key-0123456789..value..');
  const key = buffer.subarray(2, 16);
  const value = buffer.subarray(18, 23);
  mem.add(1, ValueKind.Put, key, value);
  buffer.fill(0);
  const got = mem.get(Buffer.from('key-0123456789'), MAX_SEQ)!;
  assert.is(Buffer.from(got.value).toString(), 'value');
  const it = mem.iterator();
  it.seekToFirst();
  assert.is(Buffer.from(it.key()).toString(), 'key-0123456789');
});

test('sequence numbers above 2^32 keep their value and their order', () => {
  const mem = new Memtable();
  const seqs = [2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 52 + 3, MAX_SEQ - 1, 0, 1];
  for (const seq of seqs) mem.add(seq, ValueKind.Put, text('k'), text(String(seq)));
  const it = mem.iterator();
  const seen: number[] = [];
  for (it.seekToFirst(); it.valid(); it.next()) seen.push(it.seq());
  assert.equal(seen, [...seqs].sort((a, b) => b - a));
  assert.is(mem.firstSeq, 0);
  assert.is(mem.lastSeq, MAX_SEQ - 1);
  assert.is(mem.get(text('k'), 2 ** 52)!.seq, 2 ** 32 + 1);
  assert.is(mem.get(text('k'), 2 ** 32)!.seq, 2 ** 32);
});

test('adding a (key, seq) already present trips an invariant and changes nothing', () => {
  const mem = new Memtable();
  mem.add(5, ValueKind.Put, text('x'), text('1'));
  assert.throws(() => mem.add(5, ValueKind.Delete, text('x'), new Uint8Array(0)), /invariant/);
  assert.is(mem.entryCount, 1);
  assert.is(hex(mem.get(text('x'), MAX_SEQ)!.value), hex(text('1')));
});

seeded('an iterator sees adds made between its moves, in order, both ways', (random) => {
  const mem = new Memtable({ arenaChunkBytes: 4096 });
  const nextKey = keyMaker(random);
  const ref: Entry[] = [];
  const keys: Uint8Array[] = [];
  const it = mem.iterator();
  it.seekToFirst();
  assert.not.ok(it.valid());
  let seq = 0;
  let at: Entry | undefined;
  for (let round = 0; round < 20000; round++) {
    if (random() < 0.5) {
      const key = nextKey(keys);
      keys.push(key);
      const entry = { key, seq: ++seq, kind: ValueKind.Put, value: randomValue(random, ValueKind.Put) };
      mem.add(entry.seq, entry.kind, entry.key, entry.value);
      ref.splice(upperBoundEntry(ref, entry), 0, entry);
      continue;
    }
    if (at === undefined) {
      if (random() < 0.5) {
        it.seekToFirst();
        at = ref[0];
      } else {
        it.seekToLast();
        at = ref[ref.length - 1];
      }
      assertAt(it, at, `round ${round} restart`);
      continue;
    }
    const i = ref.indexOf(at);
    if (random() < 0.5) {
      it.next();
      at = ref[i + 1];
    } else {
      it.prev();
      at = ref[i - 1];
    }
    assertAt(it, at, `round ${round}`);
  }
  assert.is(mem.entryCount, ref.length);
});

/** Index at which `entry` goes into the sorted `ref`. */
function upperBoundEntry(ref: readonly Entry[], entry: Entry): number {
  let lo = 0;
  let hi = ref.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (byInternal(ref[mid]!, entry) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

seeded('values larger than an arena chunk, empty values and the empty key read back, and views stay valid', (random) => {
  const chunk = 256;
  const mem = new Memtable({ arenaChunkBytes: chunk });
  const early: { view: Uint8Array; copy: string }[] = [];
  const ref: Entry[] = [];
  let seq = 0;
  const sizes = [0, 1, chunk / 4 - 1, chunk / 4, chunk / 4 + 1, chunk - 1, chunk, chunk + 1, 10 * chunk, 70_000];
  for (let round = 0; round < 300; round++) {
    const keyLength = round === 0 ? 0 : 1 + int(random, 40);
    const key = Uint8Array.from({ length: keyLength }, () => int(random, 256));
    const length = sizes[int(random, sizes.length)]!;
    const value = Uint8Array.from({ length }, () => int(random, 256));
    const entry = { key, seq: ++seq, kind: ValueKind.Put, value };
    mem.add(entry.seq, entry.kind, entry.key, entry.value);
    ref.push(entry);
    const got = mem.get(key, MAX_SEQ)!;
    assert.is(hex(got.value), hex(value), `value of ${length} bytes`);
    early.push({ view: got.value, copy: hex(value) });
  }
  ref.sort(byInternal);
  for (const { view, copy } of early) assert.is(hex(view), copy, 'a view returned earlier changed');
  const it = mem.iterator();
  it.seekToFirst();
  for (let i = 0; i < ref.length; i++, it.next()) assertAt(it, ref[i], `#${i}`);
  assertAt(it, undefined, 'end');
  assert.is(mem.get(new Uint8Array(0), MAX_SEQ)!.seq, 1);
  assert.ok(mem.approximateBytes >= ref.reduce((n, e) => n + e.key.length + e.value.length, 0));
});

test('an empty memtable has no entries, no sequence range and invalid cursors', () => {
  const mem = new Memtable();
  assert.is(mem.entryCount, 0);
  assert.is(mem.firstSeq, undefined);
  assert.is(mem.lastSeq, undefined);
  assert.is(mem.get(new Uint8Array(0), MAX_SEQ), undefined);
  const it = mem.iterator();
  for (const move of [() => it.seekToFirst(), () => it.seekToLast(), () => it.seek(text('a')), () => it.seekForPrev(text('a'))]) {
    move();
    assert.not.ok(it.valid());
  }
  assert.throws(() => it.next(), /invariant/);
  assert.throws(() => it.key(), /invariant/);
});

test('approximateBytes grows with the data', () => {
  const mem = new Memtable();
  const empty = mem.approximateBytes;
  assert.ok(empty >= 0);
  let last = empty;
  const value = new Uint8Array(100);
  for (let i = 0; i < 20000; i++) {
    const key = new Uint8Array(16);
    new DataView(key.buffer).setUint32(0, i);
    mem.add(i + 1, ValueKind.Put, key, value);
    assert.ok(mem.approximateBytes > last, `after ${i + 1} adds`);
    last = mem.approximateBytes;
  }
  assert.ok(last - empty >= 20000 * 116, `counts at least key and value bytes, got ${last - empty}`);
  assert.ok(last - empty < 20000 * 116 * 2, `and not wildly more, got ${last - empty}`);
});

test('add() after markImmutable() throws, reads go on', () => {
  const mem = new Memtable();
  mem.add(1, ValueKind.Put, text('a'), text('1'));
  assert.not.ok(mem.immutable);
  mem.markImmutable();
  mem.markImmutable();
  assert.ok(mem.immutable);
  assert.throws(() => mem.add(2, ValueKind.Put, text('b'), text('2')), /immutable/);
  assert.is(mem.entryCount, 1);
  assert.is(mem.lastSeq, 1);
  assert.is(hex(mem.get(text('a'), MAX_SEQ)!.value), hex(text('1')));
  const it = mem.iterator();
  it.seekToFirst();
  assert.is(hex(it.key()), hex(text('a')));
});

test('an arena chunk size out of range is an INVALID_ARGUMENT', () => {
  for (const arenaChunkBytes of [0, 63, 1.5, 2 ** 31, NaN]) {
    try {
      new Memtable({ arenaChunkBytes });
      assert.unreachable(`accepted ${arenaChunkBytes}`);
    } catch (err) {
      assert.instance(err, StrataError);
      assert.is((err as StrataError).code, 'INVALID_ARGUMENT');
    }
  }
});

test('an immutable memtable crosses postMessage as shared memory and reads back whole', async () => {
  const m = new Memtable({ arenaChunkBytes: 4096 });
  const entries: [string, number][] = [];
  for (let i = 0; i < 3000; i++) {
    const key = `key${(i * 7919) % 3000}`;
    m.add(i + 1, i % 5 === 0 ? ValueKind.Delete : ValueKind.Put, text(key), i % 5 === 0 ? new Uint8Array(0) : text(`value${i}`.repeat(i % 7)));
    entries.push([key, i + 1]);
  }
  assert.throws(() => m.toShared(), /immutable/);
  m.markImmutable();
  const { port1, port2 } = new MessageChannel();
  const received = new Promise<SharedMemtable>((resolve) => port2.once('message', resolve));
  port1.postMessage(m.toShared());
  const copy = Memtable.fromShared(await received);
  port1.close();
  assert.is(copy.entryCount, m.entryCount);
  assert.is(copy.lastSeq, m.lastSeq);
  assert.ok(copy.immutable);
  const a = m.iterator();
  const b = copy.iterator();
  let n = 0;
  for (a.seekToFirst(), b.seekToFirst(); a.valid(); a.next(), b.next(), n++) {
    assert.ok(b.valid());
    assert.equal([hex(b.key()), b.seq(), b.kind(), hex(b.value())], [hex(a.key()), a.seq(), a.kind(), hex(a.value())]);
  }
  assert.not.ok(b.valid());
  assert.is(n, 3000);
  // The memory is shared, not copied: the arena's chunks are the same SharedArrayBuffers.
  assert.ok(m.toShared().list.chunks[0]!.buffer instanceof SharedArrayBuffer);
});

/** A memtable of `n` puts (key i, value i repeated), keys in a scrambled order. */
function filledMemtable(options: ConstructorParameters<typeof Memtable>[0], n: number, salt: number): Memtable {
  const mem = new Memtable(options);
  for (let i = 0; i < n; i++) {
    const k = (i * 7919 + salt) % n;
    mem.add(i + 1, ValueKind.Put, text(`key-${String(k).padStart(6, '0')}`), text(`value-${salt}-${k}`.repeat(3)));
  }
  return mem;
}

test('given its budget, a memtable sizes its key index for it once it holds an eighth of its keys instead of doubling it on the writer\'s path; once immutable it gives the index up and reads back by searching', () => {
  const budget = 8 << 20;
  const mem = new Memtable({ expectedBytes: budget });
  const key = (k: number) => text(`key-${String(k).padStart(6, '0')}`);
  let lastGrowth = 0;
  let n = 0;
  for (let bytes = mem.keyIndexBytes; mem.approximateBytes < budget; n++) {
    mem.add(n + 1, ValueKind.Put, key((n * 7919) % 1_000_000), text(`value-${n}`.repeat(8)));
    if (mem.keyIndexBytes !== bytes) lastGrowth = n;
    bytes = mem.keyIndexBytes;
  }
  // Doubling, an 8 MiB memtable of these keys (about 40,000) last grew its index at 32,768.
  assert.ok(n > 30_000, `${n} keys`);
  assert.ok(lastGrowth < n / 4, `the index last grew at key ${lastGrowth} of ${n}`);
  // Sized for the keys the budget holds, at most half full.
  assert.ok(mem.keyIndexBytes >= 2 * n * 8 && mem.keyIndexBytes <= 8 * n * 8, `${mem.keyIndexBytes} index bytes for ${n} keys`);
  const held = mem.allocatedBytes;
  const indexBytes = mem.keyIndexBytes;
  mem.markImmutable();
  assert.is(mem.keyIndexBytes, 0);
  assert.is(mem.allocatedBytes, held - indexBytes);
  for (let i = 0; i < n; i += 3) assert.is(new TextDecoder().decode(mem.get(key((i * 7919) % 1_000_000), MAX_SEQ)!.value), `value-${i}`.repeat(8));
  assert.is(mem.get(key(1_000_001), MAX_SEQ), undefined);
});

test('a memtable built on memory released by another reads back like a fresh one', () => {
  const pool = new MemtablePool(4096, 1 << 22);
  const first = filledMemtable({ pool }, 5000, 1);
  first.markImmutable();
  first.release();
  assert.ok(pool.bytes > 0, 'the released memory is in the pool');
  const poolBytes = pool.bytes;
  const second = filledMemtable({ pool }, 3000, 2);
  assert.ok(pool.bytes < poolBytes, 'the second memtable took memory from the pool');
  const it = second.iterator();
  let i = 0;
  for (it.seekToFirst(); it.valid(); it.next(), i++) {
    assert.is(new TextDecoder().decode(it.key()), `key-${String(i).padStart(6, '0')}`);
    assert.is(new TextDecoder().decode(it.value()), `value-2-${i}`.repeat(3));
  }
  assert.is(i, 3000);
  it.close();
  assert.is(second.get(text('key-003000'), MAX_SEQ), undefined);
  assert.is(new TextDecoder().decode(second.get(text('key-002999'), MAX_SEQ)!.value), 'value-2-2999'.repeat(3));
});

test('release() returns the memory only once the last open iterator closes', () => {
  const pool = new MemtablePool(4096, 1 << 22);
  const mem = filledMemtable({ pool }, 1000, 3);
  mem.markImmutable();
  const it = mem.iterator();
  it.seekToFirst();
  mem.release();
  assert.is(pool.bytes, 0);
  let n = 0;
  for (; it.valid(); it.next()) n++;
  assert.is(n, 1000);
  it.close();
  assert.ok(pool.bytes > 0);
  it.close();
  assert.not.ok(it.valid());
});

test('release() of a memtable still taking writes is refused; the pool keeps at most its bound', () => {
  const pool = new MemtablePool(4096, 64 * 1024);
  const mem = filledMemtable({ pool }, 2000, 4);
  assert.throws(() => mem.release(), /immutable/);
  mem.markImmutable();
  mem.release();
  mem.release();
  assert.ok(pool.bytes <= 64 * 1024, `${pool.bytes} bytes kept`);
  assert.throws(() => new Memtable({ pool, arenaChunkBytes: 8192 }), (err: unknown) => err instanceof StrataError && err.code === 'INVALID_ARGUMENT');
});

test('an empty memtable holds no arena chunk; an empty entry still gets one', () => {
  const pool = new MemtablePool(4096, 1 << 22);
  pool.give([new Uint8Array(new SharedArrayBuffer(4096))], undefined);
  const mem = new Memtable({ pool });
  assert.is(pool.bytes, 4096, 'no chunk taken before the first add');
  assert.is(mem.approximateBytes, new Memtable({}).approximateBytes);
  mem.add(1, ValueKind.Put, new Uint8Array(0), new Uint8Array(0));
  assert.is(pool.bytes, 0, 'the first add took the chunk');
  const got = mem.get(new Uint8Array(0), 1);
  assert.ok(got !== undefined && got.value.length === 0);
});

seeded('keys sharing 8 leading bytes, then 4, then none: the links change the words they carry, and seeks outside the shared bytes land at either end', (random) => {
  const int = (n: number) => Math.floor(random() * n);
  const mem = new Memtable({ arenaChunkBytes: 1 << 16 });
  const ref: Entry[] = [];
  let seq = 1;
  const add = (key: Uint8Array) => {
    const value = text(String(seq));
    mem.add(seq, ValueKind.Put, key, value);
    ref.push({ key, seq: seq++, kind: ValueKind.Put, value });
  };
  const check = (stage: string) => {
    const sorted = [...ref].sort(byInternal);
    const it = mem.iterator();
    assertScans(it, sorted);
    // Seeks before, inside and after the shared bytes.
    for (const target of [text(''), text('0'), text('00000000'), text('000000005'), text('0000000099999999z'), text('00000001'), text('user'), text('zzz'), bytes(0xff, 0xff)]) {
      it.seek(target);
      const i = lowerBound(sorted, target);
      assertAt(it, sorted[i], `${stage}: seek ${hex(target)}`);
    }
    // A seek searches the list along its links (a get starts at the key index instead).
    for (const e of sorted) {
      it.seek(e.key);
      assertAt(it, sorted[lowerBound(sorted, e.key)], `${stage}: seek ${describe(e)}`);
    }
    it.close();
    for (const e of sorted) assert.ok(mem.get(e.key, e.seq)?.seq === e.seq, `${stage}: get(${describe(e)})`);
  };
  for (let i = 0; i < 3000; i++) add(text(`00000000${String(int(1e8)).padStart(8, '0')}${int(4) === 0 ? 'tail'.repeat(int(6)) : ''}`));
  check('8 bytes shared');
  for (let i = 0; i < 2000; i++) add(text(`0000${String(int(1e8)).padStart(8, '0')}`));
  check('4 bytes shared');
  for (let i = 0; i < 2000; i++) add(Uint8Array.from({ length: int(20) }, () => int(256)));
  check('nothing shared');
});

seeded('commit groups applied after hintBatches() read back like a sorted reference (the addon searches a group at once)', (random) => {
  const int = (n: number) => Math.floor(random() * n);
  const mem = new Memtable({ arenaChunkBytes: 1 << 16 });
  const ref: Entry[] = [];
  const written: Uint8Array[] = [];
  const general = keyMaker(random);
  const digits = (n: number, width: number) => String(n).padStart(width, '0');
  // Keys sharing 8 bytes (the links carry words 2 and 3), 4 bytes (words 1 and 2), or
  // nothing; keys longer than 16 bytes that agree on their first 16 (ties the addon leaves to
  // the walk); versions of keys written before.
  const makers: ((phase: number) => Uint8Array)[] = [
    () => text(`00000000${digits(int(1e8), 8)}`),
    () => text(`user${digits(int(1e6), 6)}`),
    () => text(`0000000000000000${'x'.repeat(int(4))}${digits(int(50), 2)}`),
    () => (written.length > 0 ? written[int(written.length)]! : text('0000000000000000')),
    (phase) => (phase < 3 ? text(`00000000${digits(int(1e8), 8)}`) : general(written)),
  ];
  let seq = 1;
  for (let round = 0; round < 120; round++) {
    const phase = Math.floor(round / 30);
    const writes: BatchEntry[][] = [];
    // The first groups are large: the hints' arrays grow while a group is hinted.
    for (let w = round < 2 ? 300 : 1 + int(200); w > 0; w--) {
      const batch: BatchEntry[] = [];
      for (let e = 1 + (int(4) === 0 ? int(5) : 0); e > 0; e--) {
        const key = makers[int(makers.length)]!(phase);
        const r = random();
        if (r < 0.05) batch.push({ kind: ValueKind.RangeDelete, key: text('a'), value: text('b') });
        else if (r < 0.2) batch.push({ kind: ValueKind.Delete, key, value: new Uint8Array(0) });
        else batch.push({ kind: ValueKind.Put, key, value: text(`v${seq}`) });
      }
      writes.push(batch);
    }
    const bytes = new Uint8Array(writes.reduce((n, b) => n + batchEncodedLength(b), 0));
    const ats: number[] = [];
    let at = 0;
    for (const batch of writes) {
      ats.push(at);
      at = encodeBatchInto(bytes, at, seq, batch);
      for (const e of batch) {
        if (e.kind !== ValueKind.RangeDelete) {
          ref.push({ key: e.key, seq, kind: e.kind, value: e.value });
          written.push(e.key);
        }
        seq++;
      }
    }
    mem.hintBatches(bytes, ats);
    // Now and then an entry the hints did not announce comes first: the hints are dropped
    // (not in the first two groups: the second is checked to be placed from its hints).
    if (round >= 2 && int(10) === 0) {
      const key = text(`00000000${digits(int(1e8), 8)}`);
      mem.add(seq, ValueKind.Put, key, text('unannounced'));
      ref.push({ key, seq: seq++, kind: ValueKind.Put, value: text('unannounced') });
    }
    for (const a of ats) applyBatch(bytes, a, mem);
    if (round === 1 && native.searchSkipList !== undefined) assert.ok(mem.hintedInserts > 100, `the second group's inserts were placed from hints (${mem.hintedInserts})`);
  }
  ref.sort(byInternal);
  const it = mem.iterator();
  assertScans(it, ref);
  it.close();
  for (const e of ref) assert.ok(mem.get(e.key, e.seq)?.seq === e.seq, `get(${describe(e)})`);
  if (native.searchSkipList !== undefined) assert.ok(mem.hintedInserts > ref.length / 4, `placed from hints: ${mem.hintedInserts} of ${ref.length}`);
});

test('addBatch() builds the same list as add() one by one, byte for byte: runs of keys in order linked in by the addon, the rest one by one', () => {
  const seed = fixedSeed === undefined ? 777 : Number(fixedSeed);
  const random = prng(seed);
  const int = (n: number) => Math.floor(random() * n);
  // Small chunks (many chunk switches and entries of a chunk of their own), keys of every
  // length around 16 bytes (ties on the first 16, "a" against "a\0"), every kind, sequence
  // numbers past 2^32, batches in order, out of order, and in order after other keys.
  const byBatch = new Memtable({ arenaChunkBytes: 4096 });
  const oneByOne = new Memtable({ arenaChunkBytes: 4096 });
  let seq = 2 ** 32 - 3000;
  let next = 0;
  const ordered = () => {
    const n = next++;
    const shape = n % 7;
    const base = String(n).padStart(10, '0');
    if (shape === 0) return text(`k${base}`);
    if (shape === 1) return text(`k${base}0123456789abcdef${'z'.repeat(int(8))}`);
    if (shape === 2) return new Uint8Array([...text(`k${base}`), 0, 0]);
    return text(`k${base}${'-'.repeat(int(12))}`);
  };
  for (let round = 0; round < 400; round++) {
    const batch: BatchEntry[] = [];
    const style = int(5);
    for (let e = 1 + int(60); e > 0; e--) {
      let key = style === 4 && int(3) === 0 ? text(`k${String(int(next + 1)).padStart(10, '0')}`) : ordered();
      if (style === 3 && e === 2) key = text('a'); // leading words the list does not share
      const r = random();
      const kind = r < 0.02 ? ValueKind.RangeDelete : r < 0.12 ? ValueKind.Delete : r < 0.2 ? ValueKind.Merge : r < 0.25 ? ValueKind.PutWithExpiry : ValueKind.Put;
      const value = kind === ValueKind.Delete ? new Uint8Array(0) : kind === ValueKind.RangeDelete ? text('zz') : int(20) === 0 ? new Uint8Array(1500 + int(3000)).fill(7) : text(`v${seq + batch.length}`.repeat(1 + int(5)));
      batch.push({ kind, key, value });
    }
    const bytes = new Uint8Array(batchEncodedLength(batch) + 5);
    encodeBatchInto(bytes, 5, seq, batch);
    byBatch.addBatch(bytes, 5);
    applyBatch(bytes, 5, oneByOne);
    seq += batch.length;
  }
  if (native.appendToSkipList !== undefined) assert.ok(byBatch.appendedInserts > 5000, `the addon linked in ${byBatch.appendedInserts} entries`);
  assert.is(oneByOne.appendedInserts, 0);
  assert.is(byBatch.entryCount, oneByOne.entryCount);
  assert.is(byBatch.approximateBytes, oneByOne.approximateBytes);
  assert.is(byBatch.firstSeq, oneByOne.firstSeq);
  assert.is(byBatch.lastSeq, oneByOne.lastSeq);
  // Gets through the key index find every key's newest version alike.
  for (let n = 0; n < next; n += 3) {
    for (const key of [text(`k${String(n).padStart(10, '0')}`), text('a')]) {
      const a = byBatch.get(key, seq);
      const b = oneByOne.get(key, seq);
      assert.is(a?.seq, b?.seq, `seed ${seed}: key ${n}`);
    }
  }
  byBatch.markImmutable();
  oneByOne.markImmutable();
  const x = byBatch.toShared();
  const y = oneByOne.toShared();
  assert.is(x.list.nodesUsed, y.list.nodesUsed);
  assert.is(x.list.count, y.list.count);
  assert.is(x.list.height, y.list.height);
  assert.ok(Buffer.from(x.list.nodes.buffer, 0, x.list.nodesUsed * 4).equals(Buffer.from(y.list.nodes.buffer, 0, y.list.nodesUsed * 4)), `seed ${seed}: the node records differ`);
  assert.is(x.list.chunks.length, y.list.chunks.length);
  x.list.chunks.forEach((c, i) => assert.ok(Buffer.from(c).equals(Buffer.from(y.list.chunks[i]!)), `seed ${seed}: arena chunk ${i} differs`));
  assert.equal(x.rangeTombstones.map((t) => t.seq), y.rangeTombstones.map((t) => t.seq));
});

test('allocatedBytes grows with the data and is 0 once released; the pool then holds it', () => {
  const pool = new MemtablePool(4096, 1 << 24);
  const mem = new Memtable({ pool });
  const empty = mem.allocatedBytes;
  const half = filledMemtable({ pool }, 1000, 5);
  const full = filledMemtable({ pool }, 4000, 6);
  assert.ok(empty < half.allocatedBytes && half.allocatedBytes < full.allocatedBytes, `${empty} < ${half.allocatedBytes} < ${full.allocatedBytes}`);
  assert.ok(full.allocatedBytes >= full.approximateBytes, 'allocated covers what is in use');
  const before = pool.bytes;
  const held = full.allocatedBytes;
  full.markImmutable();
  full.release();
  assert.is(full.allocatedBytes, 0);
  // All but the key index: an ordinary array (a power of two of at least 8 KiB) left to the
  // garbage collector.
  const index = held - (pool.bytes - before);
  assert.ok(index >= 8192 && (index & (index - 1)) === 0, `the pool holds what the memtable held but its key index (${index} bytes)`);
});

test('a memtable reserved for its budget never grows its node array (no old array left in the pool)', () => {
  const grown = new MemtablePool(4096, 1 << 26);
  filledMemtable({ pool: grown }, 20_000, 7);
  assert.ok(grown.bytes > 0, 'without a reservation, growth leaves old node arrays in the pool');
  const reserved = new MemtablePool(4096, 1 << 26);
  const mem = filledMemtable({ pool: reserved, expectedBytes: 8 << 20 }, 20_000, 7);
  assert.is(reserved.bytes, 0);
  assert.ok(mem.approximateBytes < 8 << 20);
  // The reservation is not counted as memory held: only what was written (and the key index,
  // sized for the budget).
  assert.ok(mem.allocatedBytes - mem.keyIndexBytes < 4 << 20, `${mem.allocatedBytes} bytes`);
});

test('memtables of a huge-page pool (2 MiB chunks cut from slabs, key index tables given back) read back like fresh ones', () => {
  const pool = MemtablePool.forMemtables(64 << 20);
  assert.is(pool.chunkBytes, 2 << 20);
  assert.is(MemtablePool.forMemtables(8 << 20).chunkBytes, 1 << 20, 'small memtables keep 1 MiB chunks');
  // 300,000 keys: the key index grows past 4 MiB, the size from which its tables are pooled.
  const n = 300_000;
  const first = filledMemtable({ pool, expectedBytes: 64 << 20 }, n, 11);
  first.markImmutable();
  first.release();
  const kept = pool.bytes;
  assert.ok(kept > 0);
  const second = filledMemtable({ pool, expectedBytes: 64 << 20 }, n, 12);
  assert.ok(pool.bytes < kept, 'the second memtable took memory from the pool');
  for (let k = 0; k < n; k += 7) {
    const got = second.get(text(`key-${String(k).padStart(6, '0')}`), MAX_SEQ);
    assert.is(got === undefined ? undefined : new TextDecoder().decode(got.value), `value-12-${k}`.repeat(3));
  }
  assert.is(second.get(text(`key-${n}`), MAX_SEQ), undefined);
  const it = second.iterator();
  let i = 0;
  for (it.seekToFirst(); it.valid(); it.next(), i++) {
    if (i % 1000 === 0) assert.is(new TextDecoder().decode(it.key()), `key-${String(i).padStart(6, '0')}`);
  }
  it.close();
  assert.is(i, n);
  // Overwrites find their key through the reused index.
  second.add(n + 1, ValueKind.Put, text('key-000007'), text('new'));
  assert.is(new TextDecoder().decode(second.get(text('key-000007'), MAX_SEQ)!.value), 'new');
});

test('a key index table the pool hands out again is all zeros, whatever it held', () => {
  const pool = MemtablePool.forMemtables(64 << 20);
  const length = (4 << 20) / 4;
  const fresh = pool.takeSlots(length);
  if (fresh === undefined) return; // no native addon: the index allocates its own tables
  assert.is(fresh.length, length);
  assert.ok(fresh.every((v) => v === 0));
  fresh.fill(-1);
  pool.giveSlots(fresh);
  assert.is(pool.bytes, 4 << 20);
  const again = pool.takeSlots(length)!;
  assert.is(again.buffer, fresh.buffer, 'the same memory');
  assert.is(pool.bytes, 0);
  assert.is(again.findIndex((v) => v !== 0), -1);
  assert.is(pool.takeSlots(1024), undefined, 'small tables are the index\'s own');
});

test.run();
