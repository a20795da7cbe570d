// The command-line tools (src/tools): verify, dump and stats on databases written through the
// public API, their output and exit codes, and that they leave every file as it was. Files
// are damaged by hand at offsets from the format comments (src/wal/record-format.ts,
// src/sstable/format.ts), not with the code under test.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { open, type Database } from '../src/index.js';
import { FaultInjectingFileSystem } from '../src/testing/index.js';
import { main } from '../src/tools/index.js';
import { bytesText } from '../src/tools/output.js';
import { filesOf, flipByte, flushesHeld, newestFile, withTempDir } from './helpers.js';
import { databaseWithManifest, LOG_FILE_HEADER_BYTES, RECORD_HEADER_BYTES } from './damage.js';


interface Run {
  code: number;
  out: string[];
  err: string[];
}

/** main(argv) with stdout and stderr captured. */
async function run(...argv: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

const show = (r: Run) => `exit ${r.code}\n--- out\n${r.out.join('\n')}\n--- err\n${r.err.join('\n')}`;

function expectCode(r: Run, code: number): void {
  assert.is(r.code, code, show(r));
}

/** Names, sizes and modification times of every file in `dir`. */
function snapshot(dir: string): string {
  return fs
    .readdirSync(dir)
    .sort()
    .map((n) => {
      const s = fs.statSync(path.join(dir, n));
      return `${n}:${s.size}:${s.mtimeMs}`;
    })
    .join('\n');
}

const key = (i: number) => `key${String(i).padStart(5, '0')}`;

/**
 * A database with tables in level 0 and below and writes in its WAL: 300 puts and 20
 * deletes, compacted down; 40 more puts flushed to level 0; 10 puts left in the WAL.
 */
async function populate(dir: string, keepOpen = false): Promise<Database> {
  // No WAL kept for the change feed: each flush deletes the WAL it retired.
  const db = await open(dir, { compactionWorkers: 0, changeRetention: { bytes: 0 } });
  for (let i = 0; i < 300; i++) await db.put(key(i), `value ${i}`);
  for (let i = 0; i < 20; i++) await db.del(key(i * 3));
  await db.flush();
  await db.compactRange();
  for (let i = 0; i < 40; i++) await db.put(`late${i}`, `late value ${i}`);
  await db.flush();
  for (let i = 0; i < 10; i++) await db.put(`wal${i}`, `in the wal ${i}`);
  if (!keepOpen) await db.close();
  return db;
}

/** The file names of lines of `r` that start with `status`. */
const filesWith = (r: Run, status: 'OK' | 'ERROR' | 'NOTE') =>
  r.out.filter((l) => l.startsWith(`${status} `)).map((l) => /^\S+\s+(\S+):/.exec(l)![1]!);

// --- verify --------------------------------------------------------------------------------

test('verify exits 0 on a healthy database and changes no file', () =>
  withTempDir(async (dir) => {
    await populate(dir);
    const before = snapshot(dir);
    const r = await run('verify', dir);
    expectCode(r, 0);
    assert.is(snapshot(dir), before, 'no file created, deleted, resized or touched');
    const tables = filesOf(dir, '.sst');
    const wals = filesOf(dir, '.log');
    assert.ok(tables.length >= 2, `tables in more than one level: ${tables.join(', ')}`);
    assert.equal(filesWith(r, 'OK').sort(), ['CURRENT', ...filesOf(dir, 'MANIFEST-'), ...tables, ...wals].sort(), show(r));
    assert.equal(filesWith(r, 'ERROR'), []);
    assert.match(r.out.at(-1)!, /: OK$/);
  }));

test('verify beside an open database neither takes its lock nor disturbs it', () =>
  withTempDir(async (dir) => {
    const db = await populate(dir, true);
    try {
      const r = await run('verify', dir);
      expectCode(r, 0);
      await db.put('after verify', 'still writable');
      assert.is((await db.get('after verify'))?.toString(), 'still writable');
    } finally {
      await db.close();
    }
    expectCode(await run('verify', dir), 0);
  }));

test('verify exits 1 naming the table when a byte of a data block is flipped', () =>
  withTempDir(async (dir) => {
    await populate(dir);
    const table = newestFile(dir, '.sst');
    // Byte 10 lies in the first data block: a table starts with its data blocks (format.ts).
    flipByte(table, 10);
    const r = await run('verify', dir);
    expectCode(r, 1);
    assert.equal(filesWith(r, 'ERROR'), [path.basename(table)], show(r));
    const line = r.out.find((l) => l.startsWith('ERROR'))!;
    assert.match(line, `${path.basename(table)}@0: data block checksum mismatch`);
    assert.match(r.out.at(-1)!, /1 error.*: CORRUPT$/);
  }));

test('verify exits 1 when a byte of a table footer is flipped', () =>
  withTempDir(async (dir) => {
    await populate(dir);
    const table = newestFile(dir, '.sst');
    flipByte(table, fs.statSync(table).size - 30); // in the 52-byte footer
    const r = await run('verify', dir);
    expectCode(r, 1);
    assert.equal(filesWith(r, 'ERROR'), [path.basename(table)], show(r));
  }));

test('verify exits 1 when a table is longer than the MANIFEST records', () =>
  withTempDir(async (dir) => {
    await populate(dir);
    const table = newestFile(dir, '.sst');
    const size = fs.statSync(table).size;
    fs.appendFileSync(table, Buffer.alloc(1));
    const r = await run('verify', dir);
    expectCode(r, 1);
    assert.equal(filesWith(r, 'ERROR'), [path.basename(table)], show(r));
    assert.match(r.out.find((l) => l.startsWith('ERROR'))!, `${size + 1} bytes, the MANIFEST records ${size}`);
  }));

test('verify exits 1 and says "missing" when a table the MANIFEST names is deleted', () =>
  withTempDir(async (dir) => {
    await populate(dir);
    const table = newestFile(dir, '.sst');
    fs.unlinkSync(table);
    const r = await run('verify', dir);
    expectCode(r, 1);
    const line = r.out.find((l) => l.startsWith('ERROR'));
    assert.ok(line, show(r));
    assert.match(line, `${path.basename(table)}: missing`);
  }));

test('verify exits 1 when the WAL the log number names is deleted', () =>
  withTempDir(async (dir) => {
    await populate(dir);
    const wal = newestFile(dir, '.log');
    fs.unlinkSync(wal);
    const r = await run('verify', dir);
    expectCode(r, 1);
    assert.match(r.out.find((l) => l.startsWith('ERROR')) ?? '', `${path.basename(wal)}: missing`, show(r));
  }));

test('verify exits 0 with a note for an orphan table', () =>
  withTempDir(async (dir) => {
    await populate(dir);
    fs.copyFileSync(newestFile(dir, '.sst'), path.join(dir, '009999.sst'));
    const r = await run('verify', dir);
    expectCode(r, 0);
    assert.equal(filesWith(r, 'NOTE'), ['009999.sst'], show(r));
    assert.match(r.out.find((l) => l.startsWith('NOTE'))!, 'orphan');
  }));

test('verify takes a torn tail of the newest WAL as a note and damage before its end as an error', () =>
  withTempDir(async (dir) => {
    await populate(dir);
    const wal = newestFile(dir, '.log');
    const name = path.basename(wal);
    const torn = path.join(dir, '..', `${path.basename(dir)}-torn`);
    fs.cpSync(dir, torn, { recursive: true });
    try {
      fs.truncateSync(path.join(torn, name), fs.statSync(wal).size - 3);
      const r = await run('verify', torn);
      expectCode(r, 0);
      assert.equal(filesWith(r, 'NOTE'), [name], show(r));
      assert.match(r.out.find((l) => l.startsWith('NOTE'))!, 'torn tail');
    } finally {
      fs.rmSync(torn, { recursive: true, force: true });
    }
    // The first record's payload: damaged with intact records after it, so not a torn tail.
    flipByte(wal, LOG_FILE_HEADER_BYTES + RECORD_HEADER_BYTES + 2);
    const r = await run('verify', dir);
    expectCode(r, 1);
    assert.equal(filesWith(r, 'ERROR'), [name], show(r));
    assert.match(r.out.find((l) => l.startsWith('ERROR'))!, `${name}@${LOG_FILE_HEADER_BYTES}: record payload checksum mismatch`);
  }));

test('verify takes an older WAL that a power cut cut short after a switch without a sync as a note, as open does, and the newer WALs as dropped', () =>
  withTempDir(async (dir) => {
    // Flushes held back (table creation waits), so that the older WALs are still needed.
    const { fs: slow, release } = flushesHeld();
    const ffs = new FaultInjectingFileSystem(slow, { syncs: 'simulated' });
    const db = await open(dir, { fs: ffs, memtableBytes: 64 * 1024, maxImmutableMemtables: 8, compactionWorkers: 0 });
    for (let n = 0; filesOf(dir, '.log').length < 3; n++) await db.put(`key-${n}`, `value ${n} `.repeat(8));
    const [oldest, ...newer] = filesOf(dir, '.log');
    const cut = ffs.powerCut({ keepUnsynced: (file, unsynced) => (path.basename(file) === oldest ? Math.floor(unsynced / 2) : unsynced) });
    release();
    await cut;
    await db.close().catch(() => undefined);
    const r = await run('verify', dir);
    expectCode(r, 0);
    assert.equal(filesWith(r, 'NOTE').filter((f) => f.endsWith('.log')), [oldest, ...newer], show(r));
    assert.match(r.out.find((l) => l.startsWith('NOTE') && l.includes(oldest!))!, 'cut short');
    assert.match(r.out.find((l) => l.startsWith('NOTE') && l.includes(newer[0]!))!, 'open drops this WAL');
  }));

test('verify exits 1 when the MANIFEST lost its last edit and the WAL that edit retired is gone', () =>
  withTempDir(async (dir) => {
    const manifest = await databaseWithManifest(dir);
    // Cut short, the last edit reads as a torn tail; but it was synced before the WAL it
    // retired was deleted, so the WAL the remaining edits name is missing.
    fs.truncateSync(manifest, fs.statSync(manifest).size - 3);
    const r = await run('verify', dir);
    expectCode(r, 1);
    assert.equal(filesWith(r, 'NOTE').length, 2, show(r));
    assert.match(r.out.find((l) => l.startsWith('NOTE'))!, 'torn last edit');
    assert.match(r.out.find((l) => l.startsWith('ERROR'))!, /\d+\.log: missing/);
    assert.match(r.out.join('\n'), /\.sst: orphan/);
  }));

test('verify exits 1 when CURRENT names a MANIFEST that does not exist', () =>
  withTempDir(async (dir) => {
    await populate(dir);
    fs.writeFileSync(path.join(dir, 'CURRENT'), 'MANIFEST-999999\n');
    const r = await run('verify', dir);
    expectCode(r, 1);
    assert.match(r.out.join('\n'), 'MANIFEST-999999, which does not exist');
  }));

test('verify --json prints one object per line, the last a summary', () =>
  withTempDir(async (dir) => {
    await populate(dir);
    fs.unlinkSync(newestFile(dir, '.sst'));
    const r = await run('verify', '--json', dir);
    expectCode(r, 1);
    const objects = r.out.map((l) => JSON.parse(l) as { type: string; status?: string; result?: string });
    assert.ok(objects.slice(0, -1).every((o) => o.type === 'check'));
    assert.ok(objects.some((o) => o.status === 'error'));
    assert.is(objects.at(-1)!.type, 'summary');
    assert.is(objects.at(-1)!.result, 'corrupt');
  }));

// --- dump ----------------------------------------------------------------------------------

/** A database whose only table holds puts of a0..a9, a delete of a3 and a binary key. */
async function oneTable(dir: string): Promise<string> {
  const db = await open(dir, { compactionWorkers: 0 });
  for (let i = 0; i < 10; i++) await db.put(`a${i}`, `value of a${i}`);
  await db.del('a3');
  await db.put(Buffer.from([0x00, 0xff, 0x10]), Buffer.from([0xfe, 0xff]));
  await db.flush();
  await db.close();
  const tables = filesOf(dir, '.sst');
  assert.is(tables.length, 1, tables.join(', '));
  return path.join(dir, tables[0]!);
}

test('dump of a .sst prints its properties and every entry written', () =>
  withTempDir(async (dir) => {
    const table = await oneTable(dir);
    const r = await run('dump', table);
    expectCode(r, 0);
    const text = r.out.join('\n');
    assert.match(text, '12 entries (1 deleted)');
    for (let i = 0; i < 10; i++) {
      if (i !== 3) assert.match(text, `"a${i}" @${i + 1} PUT "value of a${i}"`);
    }
    assert.match(text, '"a3" @11 DEL');
    assert.match(text, '"a3" @4 PUT "value of a3"');
    assert.match(text, '0x00ff10 @12 PUT 0xfeff');
  }));

test('dump of a .sst honours --limit and --max-value-bytes', () =>
  withTempDir(async (dir) => {
    const table = await oneTable(dir);
    const r = await run('dump', '--limit', '3', '--max-value-bytes', '5', table);
    expectCode(r, 0);
    const entries = r.out.filter((l) => / @\d+ (PUT|DEL)/.test(l));
    assert.is(entries.length, 3, show(r));
    assert.match(entries[1]!, '"a0" @1 PUT "value"… (11 bytes)');
    assert.match(r.out.at(-1)!, '3 of 12 entries shown');
  }));

test('dump --json of a .sst prints a properties object, then one object per entry', () =>
  withTempDir(async (dir) => {
    const table = await oneTable(dir);
    const r = await run('dump', '--json', table);
    expectCode(r, 0);
    const [props, ...entries] = r.out.map((l) => JSON.parse(l) as Record<string, any>);
    assert.is(props!.type, 'properties');
    assert.is(props!.entries, 12);
    assert.is(props!.deletions, 1);
    assert.is(entries.length, 12);
    assert.equal(entries[0], { type: 'entry', key: { hex: '00ff10', length: 3 }, seq: 12, kind: 'put', value: { hex: 'feff', length: 2 } });
    assert.equal(entries.find((e) => e.kind === 'delete'), { type: 'entry', key: { utf8: 'a3', length: 2 }, seq: 11, kind: 'delete' });
    assert.equal(entries.at(-1)!.value, { utf8: 'value of a9', length: 11 });
  }));

test('dump of a directory shows the MANIFEST counters, the levels and the WALs', () =>
  withTempDir(async (dir) => {
    await populate(dir);
    const before = snapshot(dir);
    const r = await run('dump', dir);
    expectCode(r, 0);
    assert.is(snapshot(dir), before);
    const text = r.out.join('\n');
    assert.match(text, /log number \d+, next file number \d+, last sequence 360/);
    assert.match(text, /^level 0: 1 table/m);
    assert.match(text, /^level [1-6]: \d+ tables?/m);
    assert.match(text, /"late0" \.\. "late9"\s+seqs 321\.\.360\s+40 entries/);
    assert.match(text, new RegExp(`^wal ${path.basename(newestFile(dir, '.log'))}: .*10 records, 10 entries, seqs 361\\.\\.370`, 'm'));
  }));

test('dump --json of a directory prints parseable lines, one per level, table and WAL', () =>
  withTempDir(async (dir) => {
    await populate(dir);
    const r = await run('dump', '--json', dir);
    expectCode(r, 0);
    const objects = r.out.map((l) => JSON.parse(l) as Record<string, any>);
    assert.is(objects[0]!.type, 'manifest');
    const tables = objects.filter((o) => o.type === 'table');
    assert.equal(tables.map((t) => t.file).sort(), filesOf(dir, '.sst'));
    assert.is(tables.reduce((n, t) => n + t.entries, 0), 280 + 40, 'compaction dropped the deleted keys');
    const wal = objects.find((o) => o.type === 'wal')!;
    assert.is(wal.entries, 10);
  }));

test('dump of a WAL shows each record with its offset, first sequence and entries', () =>
  withTempDir(async (dir) => {
    const db = await open(dir);
    await db.put('solo', 'one');
    await db.batch([
      { type: 'put', key: 'b1', value: 'x' },
      { type: 'del', key: 'solo' },
    ]);
    await db.close();
    const r = await run('dump', newestFile(dir, '.log'));
    expectCode(r, 0);
    assert.equal(r.out.slice(1), [
      `@${LOG_FILE_HEADER_BYTES} batch firstSeq 1, 1 entry`,
      '  "solo" @1 PUT "one"',
      `@${LOG_FILE_HEADER_BYTES + RECORD_HEADER_BYTES + 12 + 1 + 1 + 4 + 1 + 3} batch firstSeq 2, 2 entries`,
      '  "b1" @2 PUT "x"',
      '  "solo" @3 DEL',
    ]);
    const json = await run('dump', '--json', newestFile(dir, '.log'));
    const batches = json.out.map((l) => JSON.parse(l) as Record<string, any>).filter((o) => o.type === 'batch');
    assert.equal(batches.map((b) => [b.firstSeq, b.count]), [[1, 1], [2, 2]]);
  }));

test('dump of a damaged WAL shows the records around the damage and exits 1', () =>
  withTempDir(async (dir) => {
    const db = await open(dir);
    for (let i = 0; i < 3; i++) await db.put(`k${i}`, `v${i}`);
    await db.close();
    const wal = newestFile(dir, '.log');
    flipByte(wal, LOG_FILE_HEADER_BYTES + RECORD_HEADER_BYTES + 2);
    const r = await run('dump', wal);
    expectCode(r, 1);
    assert.match(r.out[1]!, `@${LOG_FILE_HEADER_BYTES} DAMAGED`);
    assert.match(r.out.join('\n'), '"k1" @2 PUT "v1"');
    assert.match(r.out.join('\n'), '"k2" @3 PUT "v2"');
  }));

test('dump of a MANIFEST shows each edit', () =>
  withTempDir(async (dir) => {
    await populate(dir);
    const r = await run('dump', newestFile(dir, 'MANIFEST-'));
    expectCode(r, 0);
    const text = r.out.join('\n');
    for (const table of filesOf(dir, '.sst')) assert.match(text, new RegExp(`add +level \\d ${table}`));
    const json = await run('dump', '--json', newestFile(dir, 'MANIFEST-'));
    const edits = json.out.map((l) => JSON.parse(l) as Record<string, any>).filter((o) => o.type === 'edit');
    assert.ok(edits.length >= 1);
    assert.ok(edits.every((e) => typeof e.offset === 'number' && Array.isArray(e.added)));
  }));

test('dump recognizes a copied table, MANIFEST or WAL by its content', () =>
  withTempDir(async (dir) => {
    const table = await oneTable(dir);
    const copy = path.join(dir, 'backup.bin');
    fs.copyFileSync(table, copy);
    let r = await run('dump', '--limit', '1', copy);
    expectCode(r, 0);
    assert.match(r.out[0]!, 'table format v2');
    fs.copyFileSync(newestFile(dir, 'MANIFEST-'), copy);
    r = await run('dump', copy);
    expectCode(r, 0);
    assert.match(r.out[0]!, 'MANIFEST');
    // A WAL just started holds its header and no record (a log, of no telling kind), or a
    // LogsSynced record alone when the WALs before it were synced at close.
    fs.copyFileSync(newestFile(dir, '.log'), copy);
    r = await run('dump', copy);
    expectCode(r, 0);
    assert.match(r.out[0]!, /: (log file, 12 B, 0 intact records|WAL, 25 B, 1 intact record)$/);
    fs.writeFileSync(copy, Buffer.alloc(100));
    expectCode(await run('dump', copy), 2);
  }));

// --- stats ---------------------------------------------------------------------------------

test('stats reports tables, entries and deletions per level, WAL bytes and sequence numbers', () =>
  withTempDir(async (dir) => {
    const db = await open(dir, { compactionWorkers: 0 });
    for (let i = 0; i < 50; i++) await db.put(key(i), 'v');
    for (let i = 0; i < 5; i++) await db.del(key(i));
    await db.flush();
    for (let i = 0; i < 7; i++) await db.put(`w${i}`, 'v');
    await db.close();
    const before = snapshot(dir);
    const r = await run('stats', '--json', dir);
    expectCode(r, 0);
    assert.is(snapshot(dir), before);
    assert.is(r.out.length, 1);
    const s = JSON.parse(r.out[0]!) as Record<string, any>;
    assert.equal(s.levels, [{ level: 0, tables: 1, bytes: fs.statSync(newestFile(dir, '.sst')).size, entries: 55, deletions: 5, rawKeyBytes: 55 * 8, rawValueBytes: 50 }]);
    assert.is(s.total.entries, 55);
    assert.is(s.wal.entries, 7);
    assert.is(s.wal.bytes, fs.statSync(newestFile(dir, '.log')).size);
    assert.equal(s.sequence, { manifestLastSequence: 55, walLastSequence: 62, lastSequence: 62 });
    const text = await run('stats', dir);
    expectCode(text, 0);
    assert.match(text.out.join('\n'), /^total\s+1\s+\S+ \S+\s+55\s+5\s/m);
    assert.match(text.out.join('\n'), 'sequence: last 62');
  }));

// --- usage ---------------------------------------------------------------------------------

test('usage errors, missing paths and strangers exit 2 with a message on stderr', () =>
  withTempDir(async (dir) => {
    const stranger = path.join(dir, 'stranger.txt');
    fs.writeFileSync(stranger, 'hello, not a database');
    const cases: [string[], string][] = [
      [[], 'usage: stratadb'],
      [['frobnicate'], 'unknown command "frobnicate"'],
      [['verify'], 'a path is required'],
      [['verify', dir, dir], 'one path expected'],
      [['verify', '--frob', dir], "Unknown option '--frob'"],
      [['verify', path.join(dir, 'nope')], 'no such directory'],
      [['verify', stranger], 'is not a directory'],
      [['verify', dir], 'is not a stratadb database'],
      [['stats', dir], 'is not a stratadb database'],
      [['dump', path.join(dir, 'nope')], 'no such file or directory'],
      [['dump', stranger], 'is not a stratadb file'],
      [['dump', '--limit=-1', dir], '--limit wants a non-negative integer'],
      [['dump', '--max-value-bytes', 'lots', dir], '--max-value-bytes wants a non-negative integer'],
      [['help', 'frobnicate'], 'unknown command'],
    ];
    for (const [argv, message] of cases) {
      const r = await run(...argv);
      assert.is(r.code, 2, `${argv.join(' ')}: ${show(r)}`);
      assert.equal(r.out, [], `${argv.join(' ')} writes nothing to stdout`);
      assert.match(r.err.join('\n'), message, `${argv.join(' ')}: ${show(r)}`);
    }
  }));

test('verify, stats and dump take a sharded database shard by shard, Prepare and Commit records included', () =>
  withTempDir(async (dir) => {
    const db = await open(dir, { shards: 3 });
    for (let i = 0; i < 30; i++) await db.put(key(i), `value ${i}`);
    await db.flush();
    // Batches across shards, left in the WALs as Prepare and Commit records.
    for (let b = 0; b < 5; b++) {
      await db.batch(Array.from({ length: 6 }, (_, j) => ({ type: 'put' as const, key: key(100 + b * 6 + j), value: `batch ${b}` })));
    }
    await db.close();
    const before = snapshot(path.join(dir, 'shard-1'));
    const verified = await run('verify', dir);
    expectCode(verified, 0);
    for (let i = 0; i < 3; i++) assert.ok(verified.out.some((l) => l.startsWith(`shard ${i} of 3`)), show(verified));
    assert.is(verified.out.filter((l) => l.endsWith(': OK')).length, 3, show(verified));
    const stats = await run('stats', dir);
    expectCode(stats, 0);
    const dumped = await run('dump', dir);
    expectCode(dumped, 0);
    const wal = newestFile(path.join(dir, 'shard-0'), '.log');
    const walDump = await run('dump', wal);
    expectCode(walDump, 0);
    assert.ok(walDump.out.some((l) => /prepare of batch \d+/.test(l)), `Prepare records are shown\n${show(walDump)}`);
    assert.ok(walDump.out.some((l) => /commit of batch \d+/.test(l)), `Commit records are shown\n${show(walDump)}`);
    assert.ok(walDump.out.some((l) => l.includes('"batch ')), `with their entries\n${show(walDump)}`);
    assert.is(snapshot(path.join(dir, 'shard-1')), before, 'the tools change no file');

    const table = path.join(dir, 'shard-2', filesOf(path.join(dir, 'shard-2'), '.sst')[0]!);
    flipByte(table, 40);
    const damaged = await run('verify', dir);
    expectCode(damaged, 1);
    assert.ok(damaged.out.some((l) => l.includes(path.basename(table))), show(damaged));
  }));

test('help exits 0 and warns that a database open elsewhere may change under verify', async () => {
  for (const argv of [['help'], ['--help'], ['help', 'verify'], ['verify', '--help'], ['dump', '-h']]) {
    const r = await run(...argv);
    expectCode(r, 0);
    assert.match(r.out.join('\n'), 'usage: stratadb');
    assert.match(r.out.join(' '), 'never take the database\'s LOCK');
  }
});

test('the stratadb command passes a help topic on: "stratadb help dump" prints the dump command\'s help', () => {
  const bin = fileURLToPath(new URL('../../bin/stratadb.js', import.meta.url));
  const r = spawnSync(process.execPath, [bin, 'help', 'dump'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^usage: stratadb dump/);
  const general = spawnSync(process.execPath, [bin], { encoding: 'utf8' });
  assert.is(general.status, 0, general.stderr);
  assert.not.match(general.stdout, /^usage: stratadb dump/);
});

test('bytesText shows printable UTF-8 quoted, other bytes as hex, and cuts at a character', () => {
  assert.is(bytesText(Buffer.from('plain')), '"plain"');
  assert.is(bytesText(Buffer.from('tab\there')), '0x' + Buffer.from('tab\there').toString('hex'));
  assert.is(bytesText(Buffer.from([0xc3, 0x28])), '0xc328', 'invalid UTF-8');
  assert.is(bytesText(Buffer.from('héllo'), 2), '"h"… (6 bytes)', 'a character cut in two is left out');
  assert.is(bytesText(Buffer.from([1, 2, 3, 4]), 2), '0x0102… (4 bytes)');
  assert.is(bytesText(new Uint8Array(0)), '""');
});

test('changes lists a closed database\'s writes from its retained logs, in order, as JSON lines, above --since', () =>
  withTempDir(async (dir) => {
    const db = await open(dir, { shards: 3, memtableBytes: 64 * 1024 });
    const seqs: bigint[] = [];
    for (let i = 0; i < 200; i++) seqs.push(await db.put(key(i), 'v'.repeat(300)));
    await db.flush();
    seqs.push(await db.batch([{ type: 'put', key: 'x', value: '1' }, { type: 'put', key: 'y', value: '2' }, { type: 'del', key: 'z' }]));
    seqs.push(await db.del(key(0)));
    await db.close();
    const before = snapshot(dir);
    const r = await run('changes', '--json', dir);
    expectCode(r, 0);
    assert.is(snapshot(dir), before, 'read-only');
    const lines = r.out.map((l) => JSON.parse(l) as { seq: string; ops: { type: string; key: { utf8: string } }[] });
    assert.equal(lines.map((l) => BigInt(l.seq)), seqs, 'every write, in sequence order, once');
    assert.equal(lines.at(-2)!.ops.map((o) => `${o.type} ${o.key.utf8}`).sort(), ['del z', 'put x', 'put y']);
    const tail = await run('changes', '--since', String(seqs[199]), dir);
    expectCode(tail, 0);
    assert.is(tail.out.filter((l) => /^\d+:/.test(l)).length, 2);
    const bad = await run('changes', '--since', '-1', dir);
    expectCode(bad, 2);
  }));

test.run();
