// How this machine's disk and thread pool serve the synced log writes of several shards: rounds
// in which each of F files gets one write of --bytes and its fdatasync (through libuv's thread
// pool, side by side, as each shard's log does), against the same bytes written and synced in
// one file (as one shard's log takes the group of all). Also what a trip through the thread
// pool costs the event loop's thread: the time of the call that queues an fs.stat, and its
// round trip. README, Shards, says what these numbers decide.
//
//   npm run build && node dist/bench/fsync.js
//   node dist/bench/fsync.js --files 4 --bytes 7000 --rounds 2000 --dir /path/on/the/disk
//
// Run it on the disk the database lives on (--dir; default: the system's temporary directory).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    files: { type: 'string', default: '4' },
    bytes: { type: 'string', default: '7000' },
    rounds: { type: 'string', default: '2000' },
    dir: { type: 'string', default: os.tmpdir() },
  },
});
const files = Number(args.files);
const bytes = Number(args.bytes);
const rounds = Number(args.rounds);
if (![files, bytes, rounds].every((n) => Number.isSafeInteger(n) && n > 0)) {
  process.stderr.write('--files, --bytes and --rounds take whole numbers above 0\n');
  process.exit(2);
}
// Each file's sync needs a pool thread of its own to run beside the others.
if (Number(process.env.UV_THREADPOOL_SIZE ?? 4) < files) process.stderr.write(`note: UV_THREADPOOL_SIZE is below --files ${files}; syncs queue for a thread\n`);

const dir = fs.mkdtempSync(path.join(args.dir, 'stratadb-fsync-'));
const write = (fd: number, data: Uint8Array, at: number) => new Promise<void>((resolve, reject) => fs.write(fd, data, 0, data.length, at, (err) => (err ? reject(err) : resolve())));
const sync = (fd: number) => new Promise<void>((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));

/** Where each file ends: every write appends, as a log's do (a file grows, blocks are allocated). */
const ends = new Map<number, number>();

/** Microseconds a round: each of `fds` gets `data` at its end and an fdatasync, all side by side. */
async function roundsOf(fds: number[], data: Uint8Array): Promise<number[]> {
  const took: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const started = performance.now();
    await Promise.all(fds.map(async (fd) => {
      const at = ends.get(fd) ?? 0;
      ends.set(fd, at + data.length);
      await write(fd, data, at);
      await sync(fd);
    }));
    took.push((performance.now() - started) * 1000);
  }
  return took.sort((a, b) => a - b);
}

const median = (sorted: number[]) => sorted[sorted.length >> 1]!;
const p99 = (sorted: number[]) => sorted[Math.floor(sorted.length * 0.99)]!;

try {
  const many = Array.from({ length: files }, (_, i) => fs.openSync(path.join(dir, `f${i}`), 'w'));
  const one = fs.openSync(path.join(dir, 'one'), 'w');
  const part = new Uint8Array(bytes).fill(120);
  const whole = new Uint8Array(bytes * files).fill(120);
  // Interleaved, twice each: the machine is shared.
  const results: [string, number[]][] = [];
  for (let pass = 0; pass < 2; pass++) {
    results.push([`${files} files × ${bytes} bytes`, await roundsOf(many, part)]);
    results.push([`1 file × ${bytes * files} bytes`, await roundsOf([one], whole)]);
  }
  for (const [what, took] of results) console.log(`${what.padEnd(24)} a round: median ${median(took).toFixed(0)} µs, p99 ${p99(took).toFixed(0)} µs`);
  let callUs = 0;
  let tripUs = 0;
  const trips = 2000;
  for (let i = 0; i < trips; i++) {
    const started = performance.now();
    const done = new Promise((resolve) => fs.stat(dir, resolve));
    const called = performance.now();
    await done;
    callUs += (called - started) * 1000;
    tripUs += (performance.now() - started) * 1000;
  }
  console.log(`a thread-pool trip (fs.stat): the call ${(callUs / trips).toFixed(1)} µs of the event loop's thread, the round trip ${(tripUs / trips).toFixed(1)} µs`);
  for (const fd of [...many, one]) fs.closeSync(fd);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
