// A disk that fills up part way through a write, on real file systems (no fault injection):
// the write must fail with the operating system's errno (ENOSPC), not EIO, whichever path wrote
// it (a table in a worker thread, an unsynced or a synced WAL append, with or without the
// native addon), reads go on, and once space returns a reopen loses nothing acknowledged.
//
// A full disk is a 1 MiB tmpfs mounted for each test (we run as root in CI); where mount is
// not permitted those tests say so and skip. The file-size limit (RLIMIT_FSIZE, through
// prlimit) cuts a write short the same way without a mount: the first test.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { open, type Database, type OpenOptions } from '../src/index.js';
import { WAL_PREALLOCATE_MIN_BYTES } from '../src/wal/index.js';
import { expectCode, filesOf, Rng, withTempDir, WriteHistory } from './helpers.js';
import { logEnd } from './damage.js';

const PAGE = 4096;
const key = (i: number) => Buffer.from(`key-${String(i).padStart(5, '0')}`);

// ---------------------------------------------------------------------------------------------
// Without a mount: the file-size limit

test('an append cut short by the file-size limit writes the rest, fails with the errno the OS gives (EFBIG), and size counts what was written', () => {
  const prlimit = spawnSync('prlimit', ['--version'], { encoding: 'utf8' });
  if (prlimit.status !== 0) {
    console.log('SKIP: prlimit(1) is not installed; the file-size limit cannot be set for a child');
    return;
  }
  const LIMIT = 10_000;
  const fsModule = new URL('../src/index.js', import.meta.url).href;
  // Each append starts below the limit and crosses it: the kernel writes up to the limit, then
  // refuses the rest. SIGXFSZ would kill the child; ignored, the write returns EFBIG instead.
  const script = `
    process.on('SIGXFSZ', () => {});
    const { NodeFileSystem } = await import(${JSON.stringify(fsModule)});
    const fs = new NodeFileSystem();
    const out = {};
    for (const [name, call] of Object.entries({
      'one chunk': (f) => f.append(new Uint8Array(6000)),
      'several chunks': (f) => f.append([new Uint8Array(3000), new Uint8Array(3000), new Uint8Array(3000)]),
      // Over 1 MiB: written on the thread pool, not in the call.
      'a large chunk': (f) => f.append(new Uint8Array(2 << 20)),
      'appendAndSync': (f) => f.appendAndSync([new Uint8Array(3000), new Uint8Array(6000)]),
    })) {
      const file = await fs.createWritable(process.argv[1] + '/' + name.replaceAll(' ', '-'));
      await file.append(new Uint8Array(${LIMIT} - 4000));
      const err = await call(file).then(() => undefined, (e) => e);
      out[name] = { code: err?.code, errno: err?.errno, size: file.size, message: err?.message };
      await file.close();
    }
    console.log(JSON.stringify(out));`;
  withTempDirSync((dir) => {
    const r = spawnSync('prlimit', [`--fsize=${LIMIT}`, process.execPath, '--input-type=module', '-e', script, dir], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, { code?: string; errno?: string; size: number; message?: string }>;
    assert.equal(Object.keys(out).length, 4);
    for (const [name, got] of Object.entries(out)) {
      assert.is(got.code, 'IO_ERROR', `${name}: ${got.message}`);
      assert.is(got.errno, 'EFBIG', `${name}: ${got.message}`);
      assert.is(got.size, LIMIT, `${name}: size counts the prefix written up to the limit`);
    }
  });
});

function withTempDirSync(body: (dir: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-fsize-'));
  try {
    body(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// A full tmpfs

interface SmallDisk {
  /** The database's directory on the small file system. */
  readonly db: string;
  /** Fills the file system up but for `leaveBytes` (rounded down to pages). */
  fill(leaveBytes: number): void;
  /** Gives the space fill() took back. */
  free(): void;
}

let mountRefused: string | undefined;

/** Runs `body` on a freshly mounted 1 MiB tmpfs, unmounted afterwards; skips where mount is refused. */
async function withSmallDisk(what: string, body: (disk: SmallDisk) => Promise<void>): Promise<void> {
  if (mountRefused !== undefined) return skip(what);
  await withTempDir(async (dir) => {
    const mnt = path.join(dir, 'mnt');
    fs.mkdirSync(mnt);
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { encoding: 'utf8' });
    if (r.status !== 0) {
      mountRefused = (r.stderr || r.error?.message || `mount exited ${r.status}`).trim();
      return skip(what);
    }
    try {
      const filler = path.join(mnt, 'filler');
      await body({
        db: path.join(mnt, 'db'),
        fill(leaveBytes) {
          const fd = fs.openSync(filler, 'a');
          const chunk = Buffer.alloc(64 * 1024, 0x7a);
          try {
            for (let n = chunk.length; n > 0; ) {
              try {
                fs.writeSync(fd, chunk, 0, n);
              } catch (err) {
                if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
                n >>= 1;
              }
            }
            const size = fs.fstatSync(fd).size;
            fs.ftruncateSync(fd, Math.max(0, size - Math.floor(leaveBytes / PAGE) * PAGE));
          } finally {
            fs.closeSync(fd);
          }
        },
        free() {
          fs.rmSync(filler, { force: true });
        },
      });
    } finally {
      // Lazily: after a failed assertion the database may still hold files open on it.
      const u = spawnSync('umount', ['--lazy', mnt], { encoding: 'utf8' });
      if (u.status !== 0) throw new Error(`umount ${mnt}: ${u.stderr}`);
    }
  });
}

function skip(what: string): void {
  console.log(`SKIP ${what}: cannot mount a small tmpfs (${mountRefused})`);
}

const SMALL: OpenOptions = { memtableBytes: 64 * 1024 };

/**
 * Puts `count` keys from `first` through `history`, with values of `valueBytes` that do not
 * compress (a table takes about as much room as its values); all acknowledged.
 */
async function putMany(db: Database, history: WriteHistory, first: number, count: number, valueBytes: number, sync: boolean): Promise<void> {
  const rng = new Rng(first);
  for (let i = first; i < first + count; i++) await history.put(db, key(i), WriteHistory.value(i, 0, key(i), rng.bytes(valueBytes)), sync);
}

/**
 * The WAL files' records do not end on a page: the next append fills that page (or the zeros
 * allocated ahead, whose length is a whole number of pages), then runs out.
 */
function assertWalsEndMidPage(dir: string, shardDirs: string[]): void {
  for (const d of shardDirs.length > 0 ? shardDirs : [dir]) {
    for (const name of filesOf(d, '.log')) assert.ok(logEnd(path.join(d, name)) % PAGE !== 0, `${name} ends mid-page`);
  }
}

async function reopenAndCheck(dir: string, history: WriteHistory, options: OpenOptions, what: string): Promise<void> {
  const db = await open(dir, options);
  try {
    await history.check(db, what);
  } finally {
    await db.close();
  }
}

async function everyAckedWriteReads(db: Database, history: WriteHistory, what: string): Promise<void> {
  let last = -1;
  history.writes.forEach((w, i) => w.acked && (last = i));
  history.durableBelow = Math.max(history.durableBelow, last + 1);
  await history.check(db, what);
}

for (const sync of [false, true]) {
  test(`${sync ? 'a synced' : 'an unsynced'} WAL write on a full disk fails with IO_ERROR and errno ENOSPC, reads go on, and after space returns a reopen loses nothing acknowledged`, async () => {
    await withSmallDisk(`${sync ? 'synced' : 'unsynced'} WAL write`, async (disk) => {
      const db = await open(disk.db, SMALL);
      const history = new WriteHistory();
      await putMany(db, history, 0, 10, 300, sync);
      assertWalsEndMidPage(disk.db, []);
      disk.fill(0);
      // Bigger than the zeros the WAL was allocated ahead (with fallocate: its first step, as
      // the log is small), which take a write without asking the full disk for room.
      const big = Buffer.alloc(WAL_PREALLOCATE_MIN_BYTES + 3 * PAGE, 0x62);
      const err = await expectCode(() => history.put(db, key(100), big, sync), 'IO_ERROR', 'a put bigger than the room left');
      assert.is(err.errno, 'ENOSPC', err.message);
      await everyAckedWriteReads(db, history, 'reads after the failed write');
      assert.is((await expectCode(() => db.put('later', 'x'), 'IO_ERROR', 'a write after the failed one')).errno, 'ENOSPC');
      disk.free();
      await db.close();
      await reopenAndCheck(disk.db, history, SMALL, 'reopened after space returned');
    });
  });
}

test('a table write (flush, on a worker thread) on a full disk fails with IO_ERROR and errno ENOSPC, reads go on, and after space returns a reopen loses nothing acknowledged', async () => {
  await withSmallDisk('table write', async (disk) => {
    const db = await open(disk.db, SMALL);
    const history = new WriteHistory();
    // About 40 KiB in the memtable, not enough to flush by itself; a new WAL and a MANIFEST
    // edit fit in the two pages left, the table does not.
    await putMany(db, history, 0, 40, 1000, false);
    disk.fill(2 * PAGE);
    const err = await expectCode(() => db.flush(), 'IO_ERROR', 'flush() with no room for the table');
    assert.is(err.errno, 'ENOSPC', err.message);
    assert.match(err.message, /\.sst/, 'the table write is what failed');
    await everyAckedWriteReads(db, history, 'reads after the failed flush');
    assert.is((await expectCode(() => db.put('later', 'x'), 'IO_ERROR', 'a write after the failed flush')).errno, 'ENOSPC');
    disk.free();
    await db.close();
    await reopenAndCheck(disk.db, history, SMALL, 'reopened after space returned');
  });
});

test('a write to a 4-shard database on a full disk fails with IO_ERROR and errno ENOSPC, reads go on in every shard, and after space returns a reopen loses nothing acknowledged', async () => {
  await withSmallDisk('4-shard write', async (disk) => {
    const options: OpenOptions & { shards: number } = { ...SMALL, shards: 4 };
    const db = await open(disk.db, options);
    const history = new WriteHistory();
    await putMany(db, history, 0, 40, 300, false);
    disk.fill(0);
    // Keys hash to every shard: each shard's WAL is cut short in turn.
    let err: unknown;
    for (let i = 100; err === undefined && i < 140; i++) {
      err = await history.put(db, key(i), Buffer.alloc(3 * PAGE, 0x62), false).then(
        () => undefined,
        (e: unknown) => e,
      );
    }
    assert.ok(err !== undefined, 'a write on the full disk failed');
    const failed = await expectCode(() => Promise.reject(err), 'IO_ERROR', 'the write on the full disk');
    assert.is(failed.errno, 'ENOSPC', failed.message);
    await everyAckedWriteReads(db, history, 'reads after the failed write');
    disk.free();
    await db.close();
    await reopenAndCheck(disk.db, history, options, 'reopened after space returned');
  });
});

test.run();
