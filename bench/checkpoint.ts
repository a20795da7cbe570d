// Checkpoints and backups of a large database: builds one with db.ingest (--num pairs of 16-byte
// keys and 100-byte incompressible values; 8M make about 1 GB on disk), writes a few more
// through the log, then times db.checkpoint() three times (with writes in between) and reports
// the extra disk each one takes (du of the database and the checkpoint together, less the
// database alone: hard links count once), then two db.backup() runs (the second incremental)
// (20k writes before each) and a restore, in MB/s of database.
//
//   npm run build && node dist/bench/checkpoint.js --num 8000000 [--shards 4] [--dir /tmp]

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { open, restoreBackup } from '../src/index.js';

const { values: args } = parseArgs({
  options: {
    num: { type: 'string', default: '8000000' },
    shards: { type: 'string', default: '1' },
    dir: { type: 'string', default: os.tmpdir() },
  },
});

/** Bytes the paths take on disk together (du -scb: a file with several links counts once). */
function du(...paths: string[]): number {
  const out = execFileSync('du', ['-scb', ...paths]).toString().trim().split('\n');
  return Number(out[out.length - 1]!.split('\t')[0]);
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

async function main(): Promise<void> {
  const num = Number(args.num);
  const root = fs.mkdtempSync(path.join(args.dir!, 'strata-checkpoint-bench-'));
  try {
    const db = await open(path.join(root, 'db'), { shards: Number(args.shards) });
    const values = randomBytes(1 << 20);
    const valueAt = (i: number) => {
      const at = (i * 101) % (values.length - 100);
      return values.subarray(at, at + 100);
    };
    function* pairs(): Generator<[Buffer, Buffer]> {
      for (let i = 0; i < num; i++) {
        const key = Buffer.alloc(16);
        key.writeUInt32BE(Math.floor(i / 2 ** 32), 8);
        key.writeUInt32BE(i >>> 0, 12);
        yield [key, valueAt(i)];
      }
    }
    let started = performance.now();
    await db.ingest(pairs());
    const ingestSeconds = (performance.now() - started) / 1000;
    console.log(`ingest of ${num.toLocaleString('en')} pairs: ${ingestSeconds.toFixed(1)} s (${Math.round(num / ingestSeconds).toLocaleString('en')} pairs/s)`);
    const writeSome = async (n: number) => {
      for (let i = 0; i < n; i++) await db.put(randomBytes(16), valueAt(i));
    };
    await writeSome(50_000);
    console.log(`database: ${mb(du(path.join(root, 'db')))} MB on disk`);
    for (let round = 0; round < 3; round++) {
      const cp = path.join(root, `cp${round}`);
      started = performance.now();
      await db.checkpoint(cp);
      const ms = performance.now() - started;
      const extra = du(path.join(root, 'db'), cp) - du(path.join(root, 'db'));
      console.log(`checkpoint ${round}: ${ms.toFixed(0)} ms, extra disk ${mb(extra)} MB`);
      await writeSome(20_000);
    }
    for (let round = 0; round < 2; round++) {
      started = performance.now();
      const b = await db.backup(path.join(root, 'backups'));
      const seconds = (performance.now() - started) / 1000;
      console.log(`backup ${b.id}: ${seconds.toFixed(1)} s, ${mb(b.bytes)} MB (${(b.bytes / 1e6 / seconds).toFixed(0)} MB/s), ${mb(b.bytesCopied)} MB copied`);
      await writeSome(20_000);
    }
    await db.close();
    started = performance.now();
    const restored = await restoreBackup(path.join(root, 'backups'), path.join(root, 'restored'));
    const seconds = (performance.now() - started) / 1000;
    console.log(`restore: ${seconds.toFixed(1)} s (${(restored.bytes / 1e6 / seconds).toFixed(0)} MB/s)`);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

await main();
