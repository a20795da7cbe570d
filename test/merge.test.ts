// Merge operators (db.merge, { type: 'merge' } in batches, tx.merge): concurrent increments
// are exact on 1 and 4 shards across flushes and compactions; 'lww' agrees whatever the order;
// a user-defined operator runs in the compaction workers; reads in both directions, snapshots,
// transactions and the change feed see operands in sequence order; the operator is recorded
// and a reopen with another one (or none) is refused; bad input writes nothing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database } from '../src/index.js';
import { expectCode, makeTempDir, readAll, removeDir, Rng, untilCompactions, withTempDir } from './helpers.js';

const FIXTURE = new URL('./merge-operator-fixture.js', import.meta.url).href;
const concatOp = { module: FIXTURE, export: 'concat' };
const counter = (b: Buffer | undefined) => (b === undefined ? undefined : b.readBigInt64LE(0));
const text = (b: Buffer | undefined) => b?.toString();
const shardsName = (n: number) => `${n} shard${n > 1 ? 's' : ''}`;

async function withDb<T>(options: Parameters<typeof open>[1], body: (db: Database, dir: string) => Promise<T>): Promise<T> {
  return withTempDir(async (dir) => {
    const db = await open(dir, options);
    try {
      return await body(db, dir);
    } finally {
      await db.close();
    }
  });
}

for (const shards of [1, 4]) {
  test(`100 concurrent merge(key, 1n) end at 100 (${shardsName(shards)})`, async () => {
    await withDb({ shards, mergeOperator: 'add' }, async (db) => {
      await Promise.all(Array.from({ length: 100 }, () => db.merge('counter', 1n)));
      assert.is(counter(await db.get('counter')), 100n);
      assert.is(db.stats().merges, 100);
    });
  });

  test(`merged counters stay exact across flushes and compactions (${shardsName(shards)}, memtableBytes 64 KiB)`, async () => {
    await withDb({ shards, mergeOperator: 'add', memtableBytes: 65536, l0CompactionTrigger: 2, targetFileBytes: 65536, levelBaseBytes: 65536 }, async (db) => {
      const filler = Buffer.alloc(300, 7);
      const expected = new Map<string, bigint>();
      const rng = new Rng(shards);
      for (let round = 0; round < 40; round++) {
        const writes: Promise<unknown>[] = [];
        for (let i = 0; i < 100; i++) {
          const key = `c${rng.int(10)}`;
          const by = BigInt(rng.int(7)) - 3n;
          expected.set(key, (expected.get(key) ?? 0n) + by);
          writes.push(db.merge(key, rng.int(2) === 0 ? by : Number(by)));
          writes.push(db.put(`f${round}/${i}`, filler));
        }
        await Promise.all(writes);
        if (round === 20) await db.batch([{ type: 'put', key: 'c0', value: Buffer.alloc(8) }]).then(() => expected.set('c0', 0n));
      }
      await untilCompactions(db);
      const s = db.stats();
      assert.ok(s.flushes > 3 && s.compactions > 0, `flushes ${s.flushes}, compactions ${s.compactions}`);
      for (const [key, value] of expected) assert.is(counter(await db.get(key)), value, key);
      await db.compactRange();
      for (const [key, value] of expected) assert.is(counter(await db.get(key)), value, `${key} after compactRange`);
      const forward = (await readAll({ iterator: () => db.iterator({ lt: 'd' }) })).map(([k, v]) => [k.toString(), counter(v)]);
      const reverse = (await readAll({ iterator: () => db.iterator({ lt: 'd', reverse: true }) })).map(([k, v]) => [k.toString(), counter(v)]);
      assert.equal(forward, [...expected].sort(([a], [b]) => (a < b ? -1 : 1)));
      assert.equal(reverse, [...forward].reverse());
    });
  });
}

test("'add' wraps around at 2^63, takes a number, a bigint or 8 bytes, and counts a missing value as 0", async () => {
  await withDb({ mergeOperator: 'add' }, async (db) => {
    await db.merge('a', 2n ** 63n - 1n);
    await db.merge('a', 1);
    assert.is(counter(await db.get('a')), -(2n ** 63n));
    const eight = Buffer.alloc(8);
    eight.writeBigInt64LE(-5n);
    await db.merge('b', eight);
    assert.is(counter(await db.get('b')), -5n);
    await db.put('c', 'not eight bytes');
    await db.merge('c', 3n);
    assert.is(counter(await db.get('c')), 3n, 'a value that is not 8 bytes counts as 0');
    await db.del('c');
    await db.merge('c', 4n);
    assert.is(counter(await db.get('c')), 4n, 'a delete ends the chain');
  });
});

test("'lww' operands applied in random orders, with flushes and compactions between, agree on the winner", async () => {
  const rng = new Rng(7);
  const operands: Buffer[] = [];
  for (let i = 0; i < 60; i++) {
    const op = Buffer.alloc(8 + rng.int(4));
    op.writeBigUInt64BE(BigInt(rng.int(20)), 0); // many ties: the payload decides
    for (let j = 8; j < op.length; j++) op[j] = rng.int(3);
    operands.push(op);
  }
  const winner = [...operands].sort(Buffer.compare).at(-1)!;
  const seen: string[] = [];
  for (let replica = 0; replica < 4; replica++) {
    await withDb({ mergeOperator: 'lww', memtableBytes: 65536, l0CompactionTrigger: 2 }, async (db) => {
      const order = [...operands];
      for (let i = order.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      for (const [i, op] of order.entries()) {
        await db.merge('reg', op);
        if (i % 17 === 16) await db.flush();
        if (i === 40) await db.compactRange();
      }
      const v = await db.get('reg');
      assert.equal(v, winner, `replica ${replica}`);
      seen.push(v!.toString('hex'));
      await db.compactRange();
      assert.equal(await db.get('reg'), winner, `replica ${replica} after compactRange`);
    });
  }
  assert.is(new Set(seen).size, 1);
});

test('a user-defined operator (module URL) is loaded in the compaction workers, which fold its operands', async () => {
  const dir = makeTempDir('strata-merge-');
  const log = join(dir, '..', `${dir.split('/').at(-1)}-fixture.log`);
  process.env['MERGE_FIXTURE_LOG'] = log;
  try {
    const db = await open(dir, { mergeOperator: concatOp, compactionWorkers: 1, l0CompactionTrigger: 100 });
    try {
      await db.put('k', 'base');
      for (let i = 0; i < 5; i++) {
        for (let j = 0; j < 3; j++) await db.merge('k', `${i}.${j}`);
        await db.flush();
      }
      const snap = db.snapshot();
      await db.merge('k', 'last');
      const all = ['base', ...Array.from({ length: 5 }, (_, i) => [0, 1, 2].map((j) => `${i}.${j}`)).flat()];
      assert.is(text(await db.get('k')), [...all, 'last'].join(','));
      await db.compactRange();
      assert.is(text(await db.get('k')), [...all, 'last'].join(','), 'after the compaction');
      assert.is(text(await db.get('k', { snapshot: snap })), all.join(','), 'the snapshot keeps its view');
      snap.release();
      const lines = readFileSync(log, 'utf8').split('\n');
      assert.ok(lines.some((l) => l.startsWith('loaded')), 'a worker thread imported the module');
      assert.ok(db.stats().compactions > 0);
    } finally {
      await db.close();
    }
    // Reopened (no snapshot now): compacting again resolves everything into one value.
    const again = await open(dir, { mergeOperator: { module: FIXTURE, export: 'concatNoFold' }, compactionWorkers: 1 });
    try {
      await again.merge('k', 'more');
      await again.compactRange();
      assert.match(text(await again.get('k'))!, /^base,0\.0,.*,4\.2,last,more$/);
    } finally {
      await again.close();
    }
  } finally {
    delete process.env['MERGE_FIXTURE_LOG'];
    removeDir(dir);
    if (existsSync(log)) removeDir(log);
  }
});

test('reverse iteration resolves merge chains over puts, deletes and nothing, in the memtable and in tables', async () => {
  await withDb({ mergeOperator: concatOp }, async (db) => {
    const model = new Map<string, string | undefined>();
    const rng = new Rng(3);
    const apply = (key: string, kind: number, i: number) => {
      const before = model.get(key);
      if (kind === 0) model.set(key, `p${i}`);
      else if (kind === 1) model.set(key, undefined);
      else model.set(key, before === undefined ? `m${i}` : `${before},m${i}`);
    };
    for (let i = 0; i < 400; i++) {
      const key = `k${rng.int(12)}`;
      const kind = rng.int(5) === 0 ? rng.int(2) : 2;
      if (kind === 0) await db.put(key, `p${i}`);
      else if (kind === 1) await db.del(key);
      else await db.merge(key, `m${i}`);
      apply(key, kind, i);
      if (i % 97 === 96) await db.flush();
      if (i === 250) await db.compactRange('k3', 'k7');
    }
    const expected = [...model].filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const forward = (await readAll(db)).map(([k, v]) => [k.toString(), v.toString()]);
    assert.equal(forward, expected);
    const reverse = (await readAll({ iterator: () => db.iterator({ reverse: true }) })).map(([k, v]) => [k.toString(), v.toString()]);
    assert.equal(reverse, [...expected].reverse());
    const bounded = (await readAll({ iterator: () => db.iterator({ reverse: true, gt: 'k2', lte: 'k6' }) })).map(([k]) => k.toString());
    assert.equal(bounded, expected.map(([k]) => k).filter((k) => k > 'k2' && k <= 'k6').reverse());
  });
});

test('a snapshot sees the merge result as of the snapshot, through flushes and compactions', async () => {
  await withDb({ mergeOperator: 'add', memtableBytes: 65536 }, async (db) => {
    const snaps: { snap: ReturnType<Database['snapshot']>; value: bigint }[] = [];
    let total = 0n;
    for (let i = 1; i <= 30; i++) {
      await db.merge('n', BigInt(i));
      total += BigInt(i);
      if (i % 5 === 0) snaps.push({ snap: db.snapshot(), value: total });
      if (i % 7 === 0) await db.flush();
      if (i % 11 === 0) await db.compactRange();
    }
    await db.compactRange();
    for (const { snap, value } of snaps) {
      assert.is(counter(await db.get('n', { snapshot: snap })), value);
      const [entry] = await readAll({ iterator: () => db.iterator({ snapshot: snap }) });
      assert.is(counter(entry![1]), value, 'an iterator at the snapshot');
      const [back] = await readAll({ iterator: () => db.iterator({ snapshot: snap, reverse: true }) });
      assert.is(counter(back![1]), value, 'in reverse');
    }
    for (const { snap } of snaps) snap.release();
    assert.is(counter(await db.get('n')), total);
  });
});

test('getEntry() returns the merged value with the newest operand\'s sequence number', async () => {
  await withDb({ mergeOperator: 'add' }, async (db) => {
    await db.put('x', Buffer.alloc(8));
    await db.merge('x', 2n);
    const seq = await db.merge('x', 3n);
    const e = await db.getEntry('x');
    assert.is(counter(e!.value), 5n);
    assert.is(e!.seq, seq);
    await db.put('x', Buffer.alloc(8), { ifSeq: seq });
  });
});

for (const shards of [1, 4]) {
  test(`merges in batches and transactions, across shards (${shardsName(shards)})`, async () => {
    await withDb({ shards, mergeOperator: 'add' }, async (db) => {
      const keys = Array.from({ length: 16 }, (_, i) => `acct/${i}`);
      await db.batch(keys.map((key) => ({ type: 'merge', key, value: 10n })));
      // A blind merge in a transaction is a write, not a read: 50 at once never conflict.
      await Promise.all(Array.from({ length: 50 }, (_, i) => db.transaction((tx) => tx.merge(keys[i % 16]!, 1))));
      assert.is(db.stats().transactionsRetried, 0);
      const seen = await db.transaction(async (tx) => {
        tx.merge('acct/0', 100n);
        tx.merge('acct/0', 1000n);
        const inTx = counter(await tx.get('acct/0'));
        const it = tx.iterator({ prefix: 'acct/0' });
        const viaIterator = counter((await it.next())![1]);
        await it.close();
        return { inTx, viaIterator };
      });
      const base = 10n + 4n; // acct/0 got 4 of the 50 (i = 0, 16, 32, 48)
      assert.equal(seen, { inTx: base + 1100n, viaIterator: base + 1100n });
      assert.is(counter(await db.get('acct/0')), base + 1100n);
      // A transaction that read the key conflicts with a merge of it, and retries.
      let runs = 0;
      await db.transaction(async (tx) => {
        runs++;
        const v = counter(await tx.get('acct/1'))!;
        if (runs === 1) await db.merge('acct/1', 1n);
        tx.put('acct/1-copy', Buffer.from(String(v)));
      });
      assert.is(runs, 2, 'the merge was a write the reader had to see');
      assert.is((await db.get('acct/1-copy'))!.toString(), String(counter(await db.get('acct/1'))));
      // Put, then merge, in one transaction: a put of the merged value.
      await db.transaction((tx) => {
        tx.put('fresh', Buffer.alloc(8));
        tx.merge('fresh', 7n);
      });
      assert.is(counter(await db.get('fresh')), 7n);
    });
  });
}

test("the change feed delivers a merge as { type: 'merge', key, value: operand }", async () => {
  await withDb({ mergeOperator: 'add', shards: 2 }, async (db) => {
    const since = db.sequence;
    await db.merge('a', 5n);
    await db.batch([
      { type: 'merge', key: 'a', value: 1 },
      { type: 'merge', key: 'b', value: 2 },
    ]);
    const ops: string[] = [];
    for await (const change of db.changes({ since, live: false })) {
      for (const op of change.ops) ops.push(`${op.type} ${op.key} ${'value' in op ? op.value.readBigInt64LE(0) : undefined}`);
    }
    assert.equal(ops, ['merge a 5', 'merge a 1', 'merge b 2']);
  });
});

for (const shards of [1, 3]) {
  test(`the operator is recorded: reopening with another one, or none, fails with INVALID_ARGUMENT (${shardsName(shards)})`, async () => {
    await withTempDir(async (dir) => {
      let db = await open(dir, { shards });
      await db.put('k', 'v');
      await db.close();
      // A database that records none takes one, and records it.
      db = await open(dir, { mergeOperator: 'add' });
      await db.merge('n', 1n);
      await db.close();
      await expectCode(() => open(dir, { mergeOperator: 'lww' }), 'INVALID_ARGUMENT', 'another built-in');
      await expectCode(() => open(dir, { mergeOperator: concatOp }), 'INVALID_ARGUMENT', 'a user operator');
      await expectCode(() => open(dir), 'INVALID_ARGUMENT', 'no operator');
      db = await open(dir, { mergeOperator: 'add' });
      assert.is(counter(await db.get('n')), 1n);
      assert.is(text(await db.get('k')), 'v');
      await db.close();
    });
  });
}

test('bad merge input rejects with INVALID_ARGUMENT or CLOSED and writes nothing', async () => {
  await withTempDir(async (dir) => {
    const plain = await open(dir);
    await expectCode(() => plain.merge('k', 'x'), 'INVALID_ARGUMENT', 'a merge without an operator');
    await expectCode(() => plain.batch([{ type: 'put', key: 'a', value: 'b' }, { type: 'merge', key: 'k', value: 'x' }]), 'INVALID_ARGUMENT', 'a batch merge without one');
    await expectCode(() => plain.transaction((tx) => tx.merge('k', 'x')), 'INVALID_ARGUMENT', 'a tx merge without one');
    assert.is(await plain.get('a'), undefined);
    await plain.close();
  });
  await withDb({ mergeOperator: 'add' }, async (db) => {
    const before = db.sequence;
    await expectCode(() => db.merge('k', Buffer.alloc(7)), 'INVALID_ARGUMENT', '7 bytes');
    await expectCode(() => db.merge('k', 2n ** 63n), 'INVALID_ARGUMENT', 'a bigint past int64');
    await expectCode(() => db.merge('k', 1.5), 'INVALID_ARGUMENT', 'a fraction');
    await expectCode(() => db.merge('k', 2 ** 53), 'INVALID_ARGUMENT', 'an unsafe integer');
    await expectCode(() => db.merge('k', 'eight!!!'), 'INVALID_ARGUMENT', 'a string');
    await expectCode(() => db.merge('k', 1n, { sync: 1 } as never), 'INVALID_ARGUMENT', 'bad options');
    await expectCode(() => db.batch([{ type: 'merge', key: 'k', value: 1n }, { type: 'merge', key: 'k', value: Buffer.alloc(3) }]), 'INVALID_ARGUMENT', 'one bad operand in a batch');
    assert.is(db.sequence, before, 'nothing was written');
    let kept: Parameters<Parameters<Database['transaction']>[0]>[0] | undefined;
    await db.transaction((tx) => {
      kept = tx;
    });
    await expectCode(() => kept!.merge('k', 1n), 'CLOSED', 'tx used after its transaction ended');
  });
  await withDb({ mergeOperator: 'lww' }, async (db) => {
    await expectCode(() => db.merge('r', Buffer.alloc(7)), 'INVALID_ARGUMENT', "an 'lww' operand without a whole timestamp");
    await expectCode(() => db.merge('r', 5n), 'INVALID_ARGUMENT', "a bigint for 'lww'");
  });
  await withTempDir(async (dir) => {
    await expectCode(() => open(dir, { mergeOperator: 'sum' as never }), 'INVALID_ARGUMENT', 'an unknown built-in');
    await expectCode(() => open(dir, { mergeOperator: { module: './relative.js', export: 'x' } }), 'INVALID_ARGUMENT', 'a relative URL');
    await expectCode(() => open(dir, { mergeOperator: { module: FIXTURE, export: 'missing' } }), 'INVALID_ARGUMENT', 'a missing export');
    await expectCode(() => open(dir, { mergeOperator: { module: FIXTURE, export: 'notAnOperator' } }), 'INVALID_ARGUMENT', 'an export without fullMerge');
    await expectCode(() => open(dir, { mergeOperator: { module: FIXTURE, export: 'concat', extra: 1 } as never }), 'INVALID_ARGUMENT', 'an unknown field');
    const db = await open(dir, { mergeOperator: 'add' });
    await db.close();
    await expectCode(() => db.merge('k', 1n), 'CLOSED', 'merge after close');
  });
});

test.run();
