// Backups (src/backup.ts) and the writing tools (stratadb checkpoint, backup, restore):
// incremental (a table is copied once), restorable by id, checked at restore (CORRUPTION
// naming the damaged file), never restored into a directory that holds anything.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { listBackups, open, purgeOldBackups, restoreBackup, type Database } from '../src/index.js';
import { main } from '../src/tools/index.js';
import { expectCode, flipByte, readAll, withTempDir } from './helpers.js';

async function entries(db: Database): Promise<[string, string][]> {
  return (await readAll(db)).map(([k, v]) => [k.toString(), v.toString()]);
}

async function run(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l: string) => out.push(l), err: (l: string) => err.push(l) });
  return { code, out, err };
}

for (const shards of [1, 2]) {
  test(`backups of a live ${shards}-shard database are incremental and restore by id`, async () => {
    await withTempDir(async (dir) => {
      const db = await open(path.join(dir, 'db'), { shards, memtableBytes: 64 * 1024 });
      for (let i = 0; i < 2000; i++) await db.put(`k${i}`, `one-${i}`);
      // Settled into the last level: no compaction left to rewrite the tables between the
      // two backups, which would leave nothing to share.
      await db.compactRange();
      const first = await db.backup(path.join(dir, 'backups'));
      const state1 = await entries(db);
      assert.is(first.id, 1);
      assert.ok(first.bytesCopied > first.bytes * 0.9, 'the first backup copies everything (files of equal bytes, such as two shards\' CURRENT, once)');
      for (let i = 0; i < 100; i++) await db.put(`k${i}`, `two-${i}`);
      const second = await db.backup(path.join(dir, 'backups'));
      const state2 = await entries(db);
      assert.is(second.id, 2);
      const tables1 = new Set(first.files.filter((f) => f.path.endsWith('.sst')).map((f) => f.sha256));
      const shared = second.files.filter((f) => tables1.has(f.sha256));
      assert.ok(shared.length > 0, 'the second backup shares tables with the first');
      assert.ok(second.bytesCopied < second.bytes / 2, `the second backup copied only what changed (${second.bytesCopied} of ${second.bytes})`);
      assert.equal((await listBackups(path.join(dir, 'backups'))).map((b) => b.id), [1, 2]);
      await db.close();

      await restoreBackup(path.join(dir, 'backups'), path.join(dir, 'r1'), { id: 1 });
      await restoreBackup(path.join(dir, 'backups'), path.join(dir, 'r2'));
      const r1 = await open(path.join(dir, 'r1'), { createIfMissing: false });
      assert.equal(await entries(r1), state1, 'backup 1 restores the state it was taken at');
      assert.is(r1.sequence, first.sequence);
      await r1.close();
      const r2 = await open(path.join(dir, 'r2'), { createIfMissing: false });
      assert.equal(await entries(r2), state2, 'the newest backup by default');
      await r2.close();

      assert.equal(await purgeOldBackups(path.join(dir, 'backups'), 1), [1]);
      assert.equal((await listBackups(path.join(dir, 'backups'))).map((b) => b.id), [2]);
      const kept = new Set(second.files.map((f) => f.sha256));
      for (const name of fs.readdirSync(path.join(dir, 'backups', 'files'))) assert.ok(kept.has(name), `${name} is named by a kept backup`);
      await restoreBackup(path.join(dir, 'backups'), path.join(dir, 'r3'));
      const r3 = await open(path.join(dir, 'r3'));
      assert.equal(await entries(r3), state2, 'backup 2 still restores after the purge');
      await r3.close();
      assert.not.ok(fs.readdirSync(path.join(dir, 'db')).some((n) => n.startsWith('.backup-')), 'the backup removed its checkpoint');
    });
  });
}

test('a damaged backup fails restore with CORRUPTION naming the file, and leaves nothing behind', async () => {
  await withTempDir(async (dir) => {
    const db = await open(path.join(dir, 'db'));
    for (let i = 0; i < 1000; i++) await db.put(`k${i}`, `v${i}`);
    const b = await db.backup(path.join(dir, 'backups'));
    await db.close();
    const table = b.files.find((f) => f.path.endsWith('.sst'))!;
    const file = path.join(dir, 'backups', 'files', table.sha256);
    flipByte(file, Math.floor(table.size / 2));
    const err = await expectCode(() => restoreBackup(path.join(dir, 'backups'), path.join(dir, 'restored')), 'CORRUPTION');
    assert.match(err.message, table.sha256, 'the error names the damaged file');
    assert.not.ok(fs.existsSync(path.join(dir, 'restored')), 'nothing under the target');
    assert.equal(fs.readdirSync(dir).filter((n) => n.startsWith('restored')), [], 'no temporary left');
    flipByte(path.join(dir, 'backups', `BACKUP-${b.id}`), 40);
    const metaErr = await expectCode(() => restoreBackup(path.join(dir, 'backups'), path.join(dir, 'restored')), 'CORRUPTION');
    assert.match(metaErr.message, `BACKUP-${b.id}`);
  });
});

test('restore never writes into a directory that holds anything', async () => {
  await withTempDir(async (dir) => {
    const db = await open(path.join(dir, 'db'));
    await db.put('a', '1');
    await db.backup(path.join(dir, 'backups'));
    await db.close();
    fs.mkdirSync(path.join(dir, 'full'));
    fs.writeFileSync(path.join(dir, 'full', 'precious'), 'keep me');
    await expectCode(() => restoreBackup(path.join(dir, 'backups'), path.join(dir, 'full')), 'INVALID_ARGUMENT');
    assert.equal(fs.readdirSync(path.join(dir, 'full')), ['precious']);
    fs.mkdirSync(path.join(dir, 'empty'));
    await restoreBackup(path.join(dir, 'backups'), path.join(dir, 'empty'));
    const r = await open(path.join(dir, 'empty'));
    assert.is((await r.get('a'))?.toString(), '1', 'an empty directory is fine');
    await r.close();
    await expectCode(() => restoreBackup(path.join(dir, 'backups'), path.join(dir, 'x'), { id: 7 }), 'NOT_FOUND');
    await expectCode(() => restoreBackup(path.join(dir, 'nothing-here'), path.join(dir, 'y')), 'NOT_FOUND');
    await expectCode(() => restoreBackup(path.join(dir, 'backups'), path.join(dir, 'z'), { id: 0 }), 'INVALID_ARGUMENT');
    await expectCode(() => restoreBackup(path.join(dir, 'backups'), path.join(dir, 'z'), { nope: 1 } as never), 'INVALID_ARGUMENT');
  });
});

test('stratadb checkpoint, backup (--list, --purge-old) and restore', async () => {
  await withTempDir(async (dir) => {
    const db = await open(path.join(dir, 'db'), { shards: 2 });
    for (let i = 0; i < 500; i++) await db.put(`k${i}`, `v${i}`);
    const expected = await entries(db);
    await db.close();
    let r = await run(['checkpoint', path.join(dir, 'db'), path.join(dir, 'cp')]);
    assert.is(r.code, 0, r.err.join('\n'));
    assert.match(r.out.join('\n'), /at sequence 500/);
    r = await run(['backup', path.join(dir, 'db'), path.join(dir, 'backups')]);
    assert.is(r.code, 0, r.err.join('\n'));
    r = await run(['backup', path.join(dir, 'db'), path.join(dir, 'backups')]);
    assert.is(r.code, 0, r.err.join('\n'));
    assert.match(r.out.join('\n'), /backup 2 /);
    r = await run(['backup', '--list', '--json', path.join(dir, 'backups')]);
    assert.equal(r.out.map((l) => JSON.parse(l).id), [1, 2]);
    r = await run(['backup', '--purge-old', '1', path.join(dir, 'backups')]);
    assert.is(r.code, 0);
    r = await run(['restore', '--id', '2', path.join(dir, 'backups'), path.join(dir, 'restored')]);
    assert.is(r.code, 0, r.err.join('\n'));
    r = await run(['restore', path.join(dir, 'backups'), path.join(dir, 'restored')]);
    assert.is(r.code, 2, 'a non-empty target is a usage error');
    r = await run(['restore', '--id', 'x', path.join(dir, 'backups'), path.join(dir, 'other')]);
    assert.is(r.code, 2);
    r = await run(['checkpoint', path.join(dir, 'missing'), path.join(dir, 'cp2')]);
    assert.is(r.code, 2, 'a missing database is a usage error');
    for (const d of ['cp', 'restored']) {
      const copy = await open(path.join(dir, d), { createIfMissing: false });
      assert.equal(await entries(copy), expected, `${d} holds the database`);
      await copy.close();
    }
  });
});

test.run();
