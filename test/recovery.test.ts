// Recovery from damaged files: a torn WAL tail is dropped, and every other checksum failure —
// in a WAL, a table or the MANIFEST — fails the open or the read with CORRUPTION naming the
// file, never silently wrong data. Files are damaged by hand at offsets found from the format
// comments (src/wal/record-format.ts, src/sstable/format.ts), not with the code under test.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NodeFileSystem, open, StrataError, type Database, type FileSystem, type OpenOptions } from '../src/index.js';
import { assertEntries, copyDir, expectCode, fileSize, filesOf, flipByte, newestFile, readAll, show, withTempDir } from './helpers.js';
import { databaseWithManifest, databaseWithTable, FOOTER_BYTES, logEnd, RECORD_HEADER_BYTES, recordOffsets, TABLE_KEYS, tableKey, tableLayout, tableValue } from './damage.js';

type Entries = [Buffer, Buffer][];
const entry = (k: string, v: string): [Buffer, Buffer] => [Buffer.from(k), Buffer.from(v)];
const sorted = (entries: Entries): Entries => entries.slice().sort((a, b) => Buffer.compare(a[0], b[0]));

/** Opens `dir`, reads everything, closes. */
async function contents(dir: string, options?: OpenOptions): Promise<Entries> {
  const db = await open(dir, options);
  try {
    return await readAll(db);
  } finally {
    await db.close();
  }
}

/** Names and sizes of the files in `dir`, to show that a failed open changed nothing. */
function listing(dir: string): string {
  return fs
    .readdirSync(dir)
    .filter((n) => n !== 'LOCK')
    .sort()
    .map((n) => `${n}:${fs.statSync(path.join(dir, n)).size}`)
    .join(' ');
}

/**
 * A database in `dir` whose newest WAL holds `writes` records (one synced put each), the last
 * of them small. The directory is copied from a live database after the last write resolved,
 * as a crash would leave it (close() might flush or rotate the WAL; a crash does not).
 * Returns the WAL and the entries expected without and with the last record.
 */
async function databaseWithWal(dir: string, writes: number): Promise<{ wal: string; before: Entries; after: Entries; lastRecordAt: number }> {
  const live = `${dir}-live`;
  const db = await open(live);
  const written: Entries = [];
  let lastRecordAt: number;
  try {
    for (let i = 0; i < writes - 1; i++) {
      const e = entry(`key-${String(i).padStart(3, '0')}`, `value ${i} `.repeat(i + 1));
      await db.put(e[0], e[1], { sync: true });
      written.push(e);
    }
    lastRecordAt = logEnd(newestFile(live, '.log'));
    const last = entry('last', 'v-last');
    await db.put(last[0], last[1], { sync: true });
    written.push(last);
    copyDir(live, dir);
  } finally {
    await db.close();
    fs.rmSync(live, { recursive: true, force: true });
  }
  const wal = newestFile(dir, '.log');
  const offsets = recordOffsets(wal);
  assert.is(offsets.length, writes, `the WAL holds one record per write`);
  assert.is(offsets[offsets.length - 1], lastRecordAt, 'the last write is the last record');
  return { wal, before: sorted(written.slice(0, -1)), after: sorted(written), lastRecordAt };
}

// ---------------------------------------------------------------------------------------------
// WAL

test('a WAL torn at every byte offset of its last record reopens to the state before that record', async () => {
  await withTempDir(async (dir) => {
    const base = path.join(dir, 'base');
    const { wal, before, after, lastRecordAt } = await databaseWithWal(base, 6);
    const end = logEnd(wal);
    assert.ok(end - lastRecordAt < 64, `the last record is small (${end - lastRecordAt} bytes)`);
    for (let cut = lastRecordAt; cut <= end; cut++) {
      const copy = path.join(dir, `cut-${cut}`);
      copyDir(base, copy);
      fs.truncateSync(path.join(copy, path.basename(wal)), cut);
      const expected = cut === end ? after : before;
      assertEntries(await contents(copy), expected, `WAL cut at ${cut} of ${end} bytes`);
      if (cut === lastRecordAt + 7) {
        // Nothing is ever appended after a torn tail: later writes survive the next reopen.
        const db = await open(copy);
        await db.put('after-tear', 'x', { sync: true });
        await db.close();
        assertEntries(await contents(copy), sorted([...before, entry('after-tear', 'x')]), `WAL cut at ${cut}, written to and reopened`);
      }
      fs.rmSync(copy, { recursive: true });
    }
  });
});

test('a zero-filled tail after the last WAL record opens without error', async () => {
  await withTempDir(async (dir) => {
    const base = path.join(dir, 'base');
    const { wal, after } = await databaseWithWal(base, 4);
    for (const zeros of [1, 5, 13, 4096, 100_000]) {
      const copy = path.join(dir, `zeros-${zeros}`);
      copyDir(base, copy);
      fs.appendFileSync(path.join(copy, path.basename(wal)), Buffer.alloc(zeros));
      assertEntries(await contents(copy), after, `WAL with ${zeros} zero bytes appended`);
    }
  });
});

test('a zero-filled last record (its bytes never reached the disk) is dropped as a torn tail', async () => {
  await withTempDir(async (dir) => {
    const base = path.join(dir, 'base');
    const { wal, before, lastRecordAt } = await databaseWithWal(base, 4);
    const copy = path.join(dir, 'zeroed');
    copyDir(base, copy);
    const file = path.join(copy, path.basename(wal));
    const end = logEnd(file);
    fs.truncateSync(file, lastRecordAt);
    fs.appendFileSync(file, Buffer.alloc(end - lastRecordAt + 4096));
    assertEntries(await contents(copy), before, 'WAL whose last record is zeros');
  });
});

test('a flipped byte in an early WAL record is CORRUPTION naming the file, and the failed open changes nothing', async () => {
  await withTempDir(async (dir) => {
    const base = path.join(dir, 'base');
    const { wal } = await databaseWithWal(base, 5);
    const offsets = recordOffsets(wal);
    const cases = [
      { what: 'the payload of the first record', at: offsets[0]! + RECORD_HEADER_BYTES + 3 },
      { what: 'the length of the first record', at: offsets[0]! + 5 },
      { what: 'the header checksum of the second record', at: offsets[1]! + 1 },
      { what: 'the payload of the second-to-last record', at: offsets[3]! + RECORD_HEADER_BYTES + 10 },
    ];
    for (const c of cases) {
      const copy = path.join(dir, `flip-${c.at}`);
      copyDir(base, copy);
      flipByte(path.join(copy, path.basename(wal)), c.at, 0x10);
      const files = listing(copy);
      const err = await expectCode(() => open(copy), 'CORRUPTION', `open with a flipped byte in ${c.what}`);
      assert.ok(err.message.includes(path.basename(wal)), `the error names the WAL: ${err.message}`);
      assert.is(listing(copy), files, `a failed open leaves the files as they were (${c.what})`);
      // The failed open released the lock: a second attempt fails the same way, not with LOCKED.
      await expectCode(() => open(copy), 'CORRUPTION', `a second open with a flipped byte in ${c.what}`);
    }
  });
});

test("walRecovery: 'salvage' skips a damaged WAL record, reports it through onRecoverySkip, and keeps the rest", async () => {
  await withTempDir(async (dir) => {
    const base = path.join(dir, 'base');
    const { wal, after } = await databaseWithWal(base, 5);
    const offsets = recordOffsets(wal);
    const copy = path.join(dir, 'salvage');
    copyDir(base, copy);
    const walCopy = path.join(copy, path.basename(wal));
    flipByte(walCopy, offsets[1]! + RECORD_HEADER_BYTES + 2, 0x01);
    await expectCode(() => open(copy), 'CORRUPTION', 'open without salvage');
    const skips: { file: string; offset: number; bytes: number; reason: string }[] = [];
    const got = await contents(copy, {
      walRecovery: 'salvage',
      onRecoverySkip: (file, offset, bytes, reason) => skips.push({ file, offset, bytes, reason }),
    });
    assert.is(skips.length, 1, `one skipped range reported: ${JSON.stringify(skips)}`);
    const skip = skips[0]!;
    assert.is(path.basename(skip.file), path.basename(wal), 'the report names the WAL');
    assert.is(skip.offset, offsets[1], 'the report gives the damaged record offset');
    assert.is(skip.bytes, offsets[2]! - offsets[1]!, 'the report gives the bytes skipped (the damaged record)');
    assert.ok(skip.reason.length > 0, 'the report says what check failed');
    // The second record is the second write: key-001.
    assertEntries(got, after.filter(([k]) => k.toString() !== 'key-001'), 'salvaged contents');
  });
});

test("walRecovery: 'strict' rejects even a torn tail, which the default drops", async () => {
  await withTempDir(async (dir) => {
    const base = path.join(dir, 'base');
    const { wal, before } = await databaseWithWal(base, 4);
    const copy = path.join(dir, 'strict');
    copyDir(base, copy);
    const walCopy = path.join(copy, path.basename(wal));
    fs.truncateSync(walCopy, logEnd(walCopy) - 3);
    const err = await expectCode(() => open(copy, { walRecovery: 'strict' }), 'CORRUPTION', "open with walRecovery: 'strict'");
    assert.ok(err.message.includes(path.basename(wal)), `the error names the WAL: ${err.message}`);
    assertEntries(await contents(copy), before, "the same WAL with walRecovery: 'tolerate-tail'");
  });
});

// ---------------------------------------------------------------------------------------------
// Tables

function isCorruptionNaming(err: unknown, file: string): boolean {
  if (!(err instanceof StrataError) || err.code !== 'CORRUPTION') throw err;
  if (!err.message.includes(path.basename(file))) throw new Error(`the CORRUPTION error does not name ${path.basename(file)}: ${err.message}`);
  return true;
}

/**
 * Reads every key of a damaged table with get() and with full forward and reverse scans:
 * each read either returns the right answer or fails with CORRUPTION naming the table.
 * Returns how many reads failed.
 */
async function readDamaged(db: Database, table: string, what: string): Promise<number> {
  let failures = 0;
  for (let i = 0; i < TABLE_KEYS; i++) {
    try {
      const v = db.getSync(tableKey(i));
      if (v === undefined || v.toString() !== tableValue(i)) throw new Error(`${what}: get(${tableKey(i)}) gives ${show(v, 40)}`);
    } catch (err) {
      if (isCorruptionNaming(err, table)) failures++;
    }
  }
  for (const missing of ['key-', 'key-00000x', 'key-01500x', 'zzz']) {
    try {
      const v = db.getSync(missing);
      if (v !== undefined) throw new Error(`${what}: get(${missing}), a key never written, gives ${show(v, 40)}`);
    } catch (err) {
      if (isCorruptionNaming(err, table)) failures++;
    }
  }
  for (const reverse of [false, true]) {
    let n = 0;
    try {
      for await (const [k, v] of db.iterator({ reverse })) {
        const i = reverse ? TABLE_KEYS - 1 - n : n;
        if (k.toString() !== tableKey(i) || v.toString() !== tableValue(i)) {
          throw new Error(`${what}: ${reverse ? 'reverse ' : ''}scan entry ${n} is ${show(k)}=${show(v, 40)}, expected ${tableKey(i)}`);
        }
        n++;
      }
      assert.is(n, TABLE_KEYS, `${what}: a ${reverse ? 'reverse ' : ''}scan that does not fail returns every entry`);
    } catch (err) {
      if (isCorruptionNaming(err, table)) failures++;
    }
  }
  return failures;
}

test('a flipped byte anywhere in a table gives CORRUPTION on open or on the reads that touch it, never a wrong value', async () => {
  await withTempDir(async (dir) => {
    const base = path.join(dir, 'base');
    const table = await databaseWithTable(base);
    const t = tableLayout(table);
    assert.ok(t.filter.offset > 8192, `the table has several data blocks (data ends at ${t.filter.offset})`);
    const cases = [
      { what: 'the first data block', at: 40 },
      { what: 'a data block in the middle', at: Math.floor(t.filter.offset / 2) },
      { what: 'the trailer of the last data block', at: t.filter.offset - 1 },
      { what: 'the filter block', at: t.filter.offset + Math.floor(t.filter.size / 2) },
      { what: 'the meta-index block', at: t.metaIndex!.offset + Math.floor(t.metaIndex!.size / 2) },
      { what: 'the meta-index handle in the footer', at: t.size - FOOTER_BYTES + 4 },
      { what: 'the properties block', at: t.properties.offset + Math.floor(t.properties.size / 2) },
      { what: 'the index block', at: t.index.offset + Math.floor(t.index.size / 2) },
      { what: 'the first byte of the index block', at: t.index.offset },
      { what: 'the footer checksum', at: t.size - FOOTER_BYTES + 1 },
      { what: 'the index handle in the footer', at: t.size - FOOTER_BYTES + 28 },
      { what: 'the footer magic', at: t.size - 3 },
    ];
    for (const c of cases) {
      const copy = path.join(dir, `flip-${c.at}`);
      copyDir(base, copy);
      const damaged = path.join(copy, path.basename(table));
      flipByte(damaged, c.at, 0x04);
      const what = `flipped byte at ${c.at} (${c.what})`;
      let db: Database;
      try {
        db = await open(copy);
      } catch (err) {
        isCorruptionNaming(err, damaged);
        fs.rmSync(copy, { recursive: true });
        continue;
      }
      try {
        const failures = await readDamaged(db, damaged, what);
        assert.ok(failures > 0, `${what}: some read reports CORRUPTION`);
      } finally {
        await db.close();
      }
      fs.rmSync(copy, { recursive: true });
    }
  });
});

test('an undamaged table reads back every key (the control for the damaged-table test)', async () => {
  await withTempDir(async (dir) => {
    const table = await databaseWithTable(dir);
    const db = await open(dir);
    try {
      assert.is(await readDamaged(db, table, 'undamaged'), 0);
    } finally {
      await db.close();
    }
  });
});

test('a table named by the MANIFEST that is missing is CORRUPTION at open', async () => {
  await withTempDir(async (dir) => {
    const table = await databaseWithTable(dir);
    fs.unlinkSync(table);
    const err = await expectCode(() => open(dir), 'CORRUPTION', 'open without a table');
    assert.ok(err.message.includes(path.basename(table)), `the error names the table: ${err.message}`);
    await expectCode(() => open(dir), 'CORRUPTION', 'a second open without a table');
  });
});

test('a truncated table is CORRUPTION on open or read, never a wrong value', async () => {
  await withTempDir(async (dir) => {
    const base = path.join(dir, 'base');
    const table = await databaseWithTable(base);
    for (const keep of [0, 10, 1000, Math.floor(fileSize(table) / 2), fileSize(table) - 1]) {
      const copy = path.join(dir, `keep-${keep}`);
      copyDir(base, copy);
      const damaged = path.join(copy, path.basename(table));
      fs.truncateSync(damaged, keep);
      let db: Database;
      try {
        db = await open(copy);
      } catch (err) {
        isCorruptionNaming(err, damaged);
        continue;
      }
      try {
        assert.ok((await readDamaged(db, damaged, `table cut to ${keep} bytes`)) > 0, `table cut to ${keep} bytes: some read reports CORRUPTION`);
      } finally {
        await db.close();
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// MANIFEST and CURRENT

test('a flipped byte inside the first MANIFEST record is CORRUPTION at open', async () => {
  await withTempDir(async (dir) => {
    const base = path.join(dir, 'base');
    const manifest = await databaseWithManifest(base);
    const [first, second] = recordOffsets(manifest) as [number, number];
    for (const at of [first + 2, first + 6, first + RECORD_HEADER_BYTES + Math.floor((second - first - RECORD_HEADER_BYTES) / 2), second - 1]) {
      const copy = path.join(dir, `flip-${at}`);
      copyDir(base, copy);
      flipByte(path.join(copy, path.basename(manifest)), at, 0x20);
      const err = await expectCode(() => open(copy), 'CORRUPTION', `open with a flipped byte at ${at} of the MANIFEST`);
      assert.ok(err.message.includes(path.basename(manifest)), `the error names the MANIFEST: ${err.message}`);
    }
  });
});

test('CURRENT naming a missing MANIFEST is CORRUPTION', async () => {
  await withTempDir(async (dir) => {
    const manifest = await databaseWithManifest(dir);
    fs.unlinkSync(manifest);
    const err = await expectCode(() => open(dir), 'CORRUPTION', 'open without the MANIFEST');
    assert.ok(err.message.includes(path.basename(manifest)), `the error names the MANIFEST: ${err.message}`);
  });
});

test('CURRENT that names no MANIFEST is CORRUPTION', async () => {
  await withTempDir(async (dir) => {
    await databaseWithManifest(dir);
    for (const text of ['', 'MANIFEST-', 'garbage\n', 'MANIFEST-000001']) {
      fs.writeFileSync(path.join(dir, 'CURRENT'), text);
      await expectCode(() => open(dir), 'CORRUPTION', `open with CURRENT = ${JSON.stringify(text)}`);
    }
  });
});

test('a flipped byte inside the last MANIFEST record is CORRUPTION at open, and no table is deleted', async () => {
  await withTempDir(async (dir) => {
    const base = path.join(dir, 'base');
    const manifest = await databaseWithManifest(base);
    const offsets = recordOffsets(manifest);
    const last = offsets[offsets.length - 1]!;
    const end = fileSize(manifest);
    for (const at of [last + 1, last + 5, last + RECORD_HEADER_BYTES + 1, end - 3, end - 1]) {
      const copy = path.join(dir, `flip-last-${at}`);
      copyDir(base, copy);
      const tables = filesOf(copy, '.sst');
      flipByte(path.join(copy, path.basename(manifest)), at, 0x20);
      await expectCode(() => open(copy), 'CORRUPTION', `open with a flipped byte at ${at} of the last MANIFEST record`);
      assert.equal(filesOf(copy, '.sst'), tables, 'the failed open deleted no table');
    }
  });
});

test('a flush that finishes while obsolete files are being listed keeps its table', async () => {
  await withTempDir(async (dir) => {
    const real = new NodeFileSystem();
    const slow: FileSystem = Object.assign(Object.create(real) as FileSystem, {
      readdir: async (d: string) => {
        await new Promise((r) => setTimeout(r, 200));
        return real.readdir(d);
      },
    });
    const db = await open(dir, { fs: slow });
    await db.put('a', '1');
    await db.flush();
    const it = db.iterator();
    await it.close(); // releases a version: starts a listing of obsolete files
    await db.put('b', '2');
    await db.flush(); // finishes while that listing waits
    await db.close();
    const again = await open(dir);
    assert.equal((await again.get('a'))?.toString(), '1');
    assert.equal((await again.get('b'))?.toString(), '2');
    await again.close();
  });
});

test('a MANIFEST cut inside its last edit (a synced edit, so damage, not a crash) is CORRUPTION, and no table is deleted', async () => {
  await withTempDir(async (dir) => {
    const manifest = await databaseWithManifest(dir);
    const tables = filesOf(dir, '.sst');
    fs.truncateSync(manifest, fileSize(manifest) - 3);
    const err = await expectCode(() => open(dir), 'CORRUPTION', 'open with the last MANIFEST edit cut short');
    assert.ok(err.message.includes('.log'), err.message);
    assert.equal(filesOf(dir, '.sst'), tables, 'the failed open deleted no table');
  });
});

test('an open cut short after creating its fresh WAL leaves the WAL it replayed the newest that matters, torn tail and all', async () => {
  for (const tail of ['a torn record header', 'preallocated zeros'] as const) {
    await withTempDir(async (dir) => {
      let db = await open(dir);
      for (let i = 0; i < 3; i++) await db.put(`k${i}`, `v${i}`, { sync: true });
      await db.close();
      const wal = newestFile(dir, '.log');
      const header = fs.readFileSync(wal).subarray(0, 12); // "STRATLOG" + version: the file header
      fs.appendFileSync(wal, tail === 'preallocated zeros' ? Buffer.alloc(4096) : Buffer.from([7, 7, 7, 7, 7]));
      // The next open's fresh WAL, created before the crash and before any MANIFEST named it.
      const number = Number(path.basename(wal, '.log')) + 1;
      fs.writeFileSync(path.join(dir, `${String(number).padStart(6, '0')}.log`), header);
      db = await open(dir);
      for (let i = 0; i < 3; i++) assert.is((await db.get(`k${i}`))?.toString(), `v${i}`, `${tail}: k${i}`);
      await db.close();
    });
  }
});

test.run();
