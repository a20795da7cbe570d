// Optimistic transactions (db.transaction) and conditional writes (ifAbsent, ifSeq,
// getEntry): the lost updates of issue 16 do not happen, conflicts are found by key and by
// range, a thrown callback writes nothing, CONFLICT comes after the last retry, bad input and
// a used-up tx are refused, and the tracking memory fails safe.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { open, type Database, type Transaction } from '../src/index.js';
import { expectCode, Rng, withTempDir } from './helpers.js';

const num = (b: Buffer | undefined) => (b === undefined ? 0 : Number(b.toString()));

async function increment(db: Database, key: string): Promise<void> {
  await db.transaction(async (tx) => {
    const v = num(await tx.get(key));
    tx.put(key, String(v + 1));
  });
}

for (const shards of [1, 4]) {
  test(`100 concurrent increments of one counter through transaction() end at 100 (${shards} shard${shards > 1 ? 's' : ''})`, async () => {
    await withTempDir(async (dir) => {
      const db = await open(dir, { shards });
      try {
        await Promise.all(Array.from({ length: 100 }, () => increment(db, 'counter')));
        assert.is(num(await db.get('counter')), 100);
        const s = db.stats();
        assert.is(s.transactionsCommitted, 100);
        assert.ok(s.transactionsRetried > 0, 'they collided, and retried');
        assert.is(s.transactionsFailed, 0);
        assert.equal(s.conflictTracking, { writes: 0, bytes: 0 }, 'no transaction open: nothing is tracked');
      } finally {
        await db.close();
      }
    });
  });
}

test('read-then-batch without a transaction loses updates (the bug of issue 16, for contrast)', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir);
    try {
      await Promise.all(
        Array.from({ length: 100 }, async () => {
          const v = num(await db.get('counter'));
          await db.batch([{ type: 'put', key: 'counter', value: String(v + 1) }]);
        }),
      );
      assert.ok(num(await db.get('counter')) < 100);
    } finally {
      await db.close();
    }
  });
});

for (const shards of [1, 4]) {
  test(`increments stay exact across flushes and compactions (${shards} shard${shards > 1 ? 's' : ''}, memtableBytes 64 KiB)`, async () => {
    await withTempDir(async (dir) => {
      const db = await open(dir, { shards, memtableBytes: 65536, l0CompactionTrigger: 2 });
      try {
        const filler = Buffer.alloc(400, 7);
        let stop = false;
        // Other writes fill memtables meanwhile, so that the counter's versions move into tables.
        const background = (async () => {
          for (let i = 0; !stop; i++) {
            await db.put(`fill/${i % 5000}`, filler);
            if (i % 500 === 0) await db.flush();
          }
        })();
        await Promise.all(Array.from({ length: 100 }, (_, i) => increment(db, `counter/${i % 3}`)));
        await db.compactRange();
        stop = true;
        await background;
        assert.is(num(await db.get('counter/0')) + num(await db.get('counter/1')) + num(await db.get('counter/2')), 100);
        assert.is(num(await db.get('counter/0')), 34);
        assert.ok(db.stats().flushes > 0, 'memtables were flushed during the run');
      } finally {
        await db.close();
      }
    });
  });
}

for (const shards of [1, 4]) {
  test(`a bank of 1,000 accounts with 200 concurrent transfer writers keeps its total and every balance (${shards} shard${shards > 1 ? 's' : ''})`, async () => {
    await withTempDir(async (dir) => {
      const db = await open(dir, { shards });
      const ACCOUNTS = 1000;
      const START = 1000;
      try {
        await db.batch(Array.from({ length: ACCOUNTS }, (_, i) => ({ type: 'put' as const, key: `acct/${i}`, value: String(START) })));
        const expected = new Array<number>(ACCOUNTS).fill(START);
        const rng = new Rng(shards);
        await Promise.all(
          Array.from({ length: 200 }, async () => {
            for (let n = 0; n < 10; n++) {
              const from = rng.int(ACCOUNTS);
              let to = rng.int(ACCOUNTS - 1);
              if (to >= from) to++;
              const amount = rng.range(1, 50);
              const moved = await db.transaction(async (tx) => {
                const a = num(await tx.get(`acct/${from}`));
                const b = num(await tx.get(`acct/${to}`));
                if (a < amount) return false;
                tx.put(`acct/${from}`, String(a - amount));
                tx.put(`acct/${to}`, String(b + amount));
                return true;
              });
              if (moved) {
                expected[from]! -= amount;
                expected[to]! += amount;
              }
            }
          }),
        );
        let total = 0;
        for (let i = 0; i < ACCOUNTS; i++) {
          const balance = num(await db.get(`acct/${i}`));
          assert.is(balance, expected[i], `account ${i}`);
          total += balance;
        }
        assert.is(total, ACCOUNTS * START);
        assert.is(db.stats().transactionsCommitted, 2000);
      } finally {
        await db.close();
      }
    });
  });
}

test('a transaction reads its snapshot, not writes made while it runs, and its own writes over it', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir);
    try {
      await db.batch([
        { type: 'put', key: 'a', value: '1' },
        { type: 'put', key: 'b', value: '2' },
        { type: 'put', key: 'c', value: '3' },
      ]);
      const xs: (string | undefined)[] = [];
      const seen = await db.transaction(
        async (tx) => {
          const before = (await tx.get('a'))?.toString();
          if (xs.length === 0) await db.put('x', 'outside');
          // The first run reads at its snapshot, without the put above; the put then
          // conflicts with that read, and the second run sees it.
          const x = (await tx.get('x'))?.toString();
          xs.push(x);
          tx.put('b', '20');
          tx.del('c');
          tx.put('d', '4');
          const own = [(await tx.get('b'))?.toString(), await tx.get('c'), tx.getSync('d')?.toString()];
          const listed: string[] = [];
          for await (const [k, v] of tx.iterator({ gte: 'a', lt: 'e' })) listed.push(`${k}=${v}`);
          const reversed: string[] = [];
          for await (const [k] of tx.iterator({ reverse: true, limit: 2, lt: 'e' })) reversed.push(k.toString());
          const it = tx.iterator({ gte: 'a', lt: 'e' });
          it.seek('c');
          const afterSeek = (await it.next())?.[0].toString();
          await it.close();
          return { before, own, listed, reversed, afterSeek };
        },
        { retries: 1 },
      );
      assert.equal(xs, [undefined, 'outside']);
      assert.equal(seen, {
        before: '1',
        own: ['20', undefined, '4'],
        listed: ['a=1', 'b=20', 'd=4'],
        reversed: ['d', 'b'],
        afterSeek: 'd',
      });
      assert.is((await db.get('b'))?.toString(), '20');
      assert.is(await db.get('c'), undefined);
      assert.is((await db.get('d'))?.toString(), '4');
    } finally {
      await db.close();
    }
  });
});

for (const shards of [1, 4]) {
  test(`a range a transaction iterated conflicts with an insert into it, not with a write beside it (${shards} shard${shards > 1 ? 's' : ''})`, async () => {
    await withTempDir(async (dir) => {
      const db = await open(dir, { shards });
      try {
        await db.put('item/1', 'x');
        let runs = 0;
        const counted = await db.transaction(async (tx) => {
          runs++;
          let n = 0;
          for await (const _ of tx.iterator({ prefix: 'item/' })) n++;
          if (runs === 1) {
            await db.put('other', 'y'); // outside the range
            await db.put('item/2', 'x'); // a phantom
          }
          tx.put('count', String(n));
          return n;
        });
        assert.is(runs, 2, 'the insert into the range forced one retry');
        assert.is(counted, 2);
        assert.is((await db.get('count'))?.toString(), '2');

        runs = 0;
        await db.transaction(async (tx) => {
          runs++;
          for await (const _ of tx.iterator({ gte: 'item/', lt: 'item0' })) {
            /* read */
          }
          if (runs === 1) await db.put('other', 'z');
          tx.put('count2', '1');
        });
        assert.is(runs, 1, 'a write outside the range does not conflict');
      } finally {
        await db.close();
      }
    });
  });
}

test('a key written by someone else after the snapshot makes the transaction run again, at a newer snapshot', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir);
    try {
      await db.put('k', '1');
      const reads: string[] = [];
      await db.transaction(async (tx) => {
        const v = (await tx.get('k'))!.toString();
        reads.push(v);
        if (reads.length === 1) await db.put('k', '5');
        tx.put('k', String(Number(v) + 1));
      });
      assert.equal(reads, ['1', '5']);
      assert.is((await db.get('k'))?.toString(), '6');
      assert.is(db.stats().transactionsRetried, 1);
    } finally {
      await db.close();
    }
  });
});

test('a transaction or a conditional write begun while a plain write is still in flight sees that write', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir);
    try {
      await db.put('k', '1');
      // Submitted, not yet published, before any transaction is open: nothing recorded it.
      const plain = db.put('k', '5');
      const inc = db.transaction(async (tx) => {
        const v = num(await tx.get('k'));
        tx.put('k', String(v + 1));
      });
      const plainDel = db.del('fresh');
      const once = db.put('fresh2', 'x', { ifAbsent: true });
      const plainPut = db.put('fresh3', 'y');
      const refused = db.put('fresh3', 'z', { ifAbsent: true }).then(
        () => 'written',
        (err: { code?: string }) => err.code,
      );
      await Promise.all([plain, inc, plainDel, once, plainPut]);
      assert.is(num(await db.get('k')), 6, 'the increment applied to the write before it');
      assert.is(await refused, 'CONFLICT', 'the ifAbsent put after an unpublished put of its key');
      assert.is((await db.get('fresh3'))?.toString(), 'y');
    } finally {
      await db.close();
    }
  });
});

test('a read-only transaction and a write-only transaction never conflict', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir);
    try {
      await db.put('k', '1');
      let runs = 0;
      const v = await db.transaction(async (tx) => {
        runs++;
        const r = (await tx.get('k'))?.toString();
        await db.put('k', '2');
        return r;
      });
      assert.is(v, '1');
      assert.is(runs, 1, 'nothing to commit: what it read was one consistent snapshot');
      runs = 0;
      await db.transaction(async (tx) => {
        runs++;
        tx.put('k', '3');
        await db.put('k', '4');
      });
      assert.is(runs, 1);
      assert.is((await db.get('k'))?.toString(), '3', 'the blind write commits after the other');
    } finally {
      await db.close();
    }
  });
});

test('a callback that throws writes nothing, is not retried, and rejects with its own error', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir);
    try {
      let runs = 0;
      const oops = new Error('oops');
      let caught: unknown;
      try {
        await db.transaction(async (tx) => {
          runs++;
          tx.put('a', '1');
          tx.put('b', '2');
          await tx.get('a');
          throw oops;
        });
      } catch (err) {
        caught = err;
      }
      assert.is(caught, oops);
      assert.is(runs, 1);
      assert.is(await db.get('a'), undefined);
      assert.is(await db.get('b'), undefined);
      assert.is(db.stats().transactionsAborted, 1);
      assert.is(db.stats().writes, 0);
    } finally {
      await db.close();
    }
  });
});

test('after its last retry a transaction rejects with CONFLICT and writes nothing', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir);
    try {
      await db.put('k', '0');
      let runs = 0;
      const err = await expectCode(
        () =>
          db.transaction(
            async (tx) => {
              runs++;
              await tx.get('k');
              await db.put('k', String(runs)); // someone else always gets there first
              tx.put('mine', 'x');
            },
            { retries: 2 },
          ),
        'CONFLICT',
      );
      assert.match(err.message, /3 attempts/);
      assert.is(runs, 3, 'the first run and two retries');
      assert.is(await db.get('mine'), undefined);
      const s = db.stats();
      assert.is(s.transactionsFailed, 1);
      assert.is(s.transactionsRetried, 2);
      assert.is(s.transactionsCommitted, 0);
    } finally {
      await db.close();
    }
  });
});

test('a tx used after its transaction ended fails with CLOSED, and so does its iterator', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir);
    try {
      let kept: Transaction | undefined;
      let it: ReturnType<Transaction['iterator']> | undefined;
      await db.transaction((tx) => {
        kept = tx;
        it = tx.iterator();
      });
      assert.ok(kept!.ended);
      await expectCode(() => kept!.get('a'), 'CLOSED');
      await expectCode(() => kept!.put('a', '1'), 'CLOSED');
      await expectCode(() => kept!.del('a'), 'CLOSED');
      await expectCode(() => kept!.iterator(), 'CLOSED');
      await expectCode(() => it!.next(), 'CLOSED');
      assert.is(await db.get('a'), undefined);
      assert.is(db.stats().openIterators, 0);
    } finally {
      await db.close();
    }
  });
});

test('bad arguments to transaction() are INVALID_ARGUMENT and run nothing', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir);
    try {
      let runs = 0;
      const fn = (tx: Transaction) => {
        runs++;
        tx.put('a', '1');
      };
      await expectCode(() => db.transaction('nope' as unknown as typeof fn), 'INVALID_ARGUMENT');
      await expectCode(() => db.transaction(fn, { retires: 3 } as object), 'INVALID_ARGUMENT');
      await expectCode(() => db.transaction(fn, { retries: -1 }), 'INVALID_ARGUMENT');
      await expectCode(() => db.transaction(fn, { retries: 1.5 }), 'INVALID_ARGUMENT');
      await expectCode(() => db.transaction(fn, { sync: 'yes' } as unknown as object), 'INVALID_ARGUMENT');
      assert.is(runs, 0);
      // Inside: bad keys, and a snapshot option the transaction does not take.
      await expectCode(
        () =>
          db.transaction((tx) => {
            tx.put('b', '1');
            tx.put(42 as unknown as string, 'x');
          }),
        'INVALID_ARGUMENT',
      );
      await expectCode(() => db.transaction((tx) => void tx.iterator({ snapshot: db.snapshot() } as object)), 'INVALID_ARGUMENT');
      assert.is(await db.get('a'), undefined);
      assert.is(await db.get('b'), undefined);
    } finally {
      await db.close();
    }
  });
  await expectCode(() => open('/tmp/strata-never', { conflictTrackingBytes: 10 }), 'INVALID_ARGUMENT');
});

test('past conflictTrackingBytes, a transaction older than the cut conflicts rather than miss a write', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir, { conflictTrackingBytes: 64 * 1024 });
    try {
      let runs = 0;
      await db.transaction(async (tx) => {
        runs++;
        await tx.get('mine');
        if (runs === 1) {
          // Writes of other keys only, but more than the tracker keeps.
          const ops = Array.from({ length: 2000 }, (_, i) => ({ type: 'put' as const, key: `other/${i}`, value: 'v' }));
          for (const op of ops) await db.batch([op]);
        }
        tx.put('mine', 'x');
      });
      assert.is(runs, 2, 'the tracker forgot what it could not keep, so the first run could not be validated');
      assert.is((await db.get('mine'))?.toString(), 'x');
    } finally {
      await db.close();
    }
  });
});

for (const shards of [1, 4]) {
  test(`exactly one of 50 concurrent ifAbsent puts of one key wins (${shards} shard${shards > 1 ? 's' : ''})`, async () => {
    await withTempDir(async (dir) => {
      const db = await open(dir, { shards });
      try {
        for (let round = 0; round < 5; round++) {
          const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => db.put(`once/${round}`, String(i), { ifAbsent: true })));
          const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
          assert.is(won.length, 1, `round ${round}: one winner`);
          for (const r of results) if (r.status === 'rejected') assert.is((r.reason as { code: string }).code, 'CONFLICT');
          assert.is((await db.get(`once/${round}`))?.toString(), String(won[0]), 'the winner wrote the value');
        }
        assert.is(db.stats().conditionalWritesRefused, 5 * 49);
      } finally {
        await db.close();
      }
    });
  });
}

test('getEntry() gives the sequence of the write that stored the value; ifSeq applies only while the key is unchanged', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir);
    try {
      assert.is(await db.getEntry('k'), undefined);
      await db.put('k', 'v1');
      const e1 = (await db.getEntry('k'))!;
      assert.is(e1.value.toString(), 'v1');
      assert.is(typeof e1.seq, 'bigint');
      assert.is(e1.seq, BigInt(db.stats().publishedSequence));
      await db.put('k', 'v2', { ifSeq: e1.seq });
      const e2 = db.getEntrySync('k')!;
      assert.ok(e2.seq > e1.seq);
      await expectCode(() => db.put('k', 'v3', { ifSeq: e1.seq }), 'CONFLICT');
      assert.is((await db.get('k'))?.toString(), 'v2');
      await db.flush();
      await db.compactRange();
      assert.is(db.getEntrySync('k')!.seq, e2.seq, 'the sequence survives flush and compaction');
      await expectCode(() => db.put('k', 'v3', { ifAbsent: true }), 'CONFLICT');
      await db.del('k', { ifSeq: Number(e2.seq) });
      await expectCode(() => db.put('k', 'v4', { ifSeq: e2.seq }), 'CONFLICT', 'ifSeq on a deleted key');
      await db.put('k', 'v4', { ifAbsent: true });
      assert.is((await db.get('k'))?.toString(), 'v4');
    } finally {
      await db.close();
    }
  });
});

for (const shards of [1, 4]) {
  test(`a batch with one failed condition writes nothing (${shards} shard${shards > 1 ? 's' : ''})`, async () => {
    await withTempDir(async (dir) => {
      const db = await open(dir, { shards });
      try {
        await db.put('taken', '1');
        const ops = Array.from({ length: 20 }, (_, i) => ({ type: 'put' as const, key: `k${i}`, value: 'x', ifAbsent: true }));
        await expectCode(() => db.batch([...ops, { type: 'put', key: 'taken', value: '2', ifAbsent: true }]), 'CONFLICT');
        for (let i = 0; i < 20; i++) assert.is(await db.get(`k${i}`), undefined);
        assert.is((await db.get('taken'))?.toString(), '1');
        const seq = (await db.getEntry('taken'))!.seq;
        await db.batch([...ops, { type: 'del', key: 'taken', ifSeq: seq }]);
        for (let i = 0; i < 20; i++) assert.is((await db.get(`k${i}`))?.toString(), 'x');
        assert.is(await db.get('taken'), undefined);
      } finally {
        await db.close();
      }
    });
  });
}

test('a conditional write stores the bytes it was given at the call, even if the caller reuses its buffers', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir);
    try {
      const key = Buffer.from('key1');
      const value = Buffer.from('val1');
      const done = db.put(key, value, { ifAbsent: true });
      key.write('key2');
      value.write('val2');
      await done;
      assert.is((await db.get('key1'))?.toString(), 'val1');
      assert.is(await db.get('key2'), undefined);
    } finally {
      await db.close();
    }
  });
});

test('bad conditions are INVALID_ARGUMENT and write nothing', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir);
    try {
      await expectCode(() => db.put('a', '1', { ifAbsent: true, ifSeq: 3n }), 'INVALID_ARGUMENT');
      await expectCode(() => db.put('a', '1', { ifSeq: -1n }), 'INVALID_ARGUMENT');
      await expectCode(() => db.put('a', '1', { ifSeq: 1.5 }), 'INVALID_ARGUMENT');
      await expectCode(() => db.put('a', '1', { ifSeq: '3' } as unknown as object), 'INVALID_ARGUMENT');
      await expectCode(() => db.put('a', '1', { ifAbsent: 1 } as unknown as object), 'INVALID_ARGUMENT');
      await expectCode(() => db.del('a', { ifabsent: true } as unknown as object), 'INVALID_ARGUMENT');
      await expectCode(() => db.batch([{ type: 'put', key: 'a', value: '1', ifSeq: 'x' } as unknown as { type: 'put'; key: string; value: string }]), 'INVALID_ARGUMENT');
      await expectCode(() => db.batch([{ type: 'put', key: 'a', value: '1' }], { ifAbsent: true } as object), 'INVALID_ARGUMENT');
      assert.is(await db.get('a'), undefined);
      assert.is(db.stats().writes, 0);
    } finally {
      await db.close();
    }
  });
});

test('transaction() and conditional writes on a closed database fail with CLOSED', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir);
    await db.close();
    await expectCode(() => db.transaction(() => {}), 'CLOSED');
    await expectCode(() => db.put('a', '1', { ifAbsent: true }), 'CLOSED');
    await expectCode(() => db.getEntry('a'), 'CLOSED');
  });
});

test.run();
