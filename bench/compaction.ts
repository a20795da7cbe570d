// Compaction under a write-heavy load, stratadb beside RocksDB in the same run: N random puts
// of 100-byte values, half of them overwrites of keys already written, 256 in flight, then
// compactRange() over everything. Each store runs in a child process of its own, so that
// /proc/self/io and the event loop are its alone.
//
//   npm run build && node dist/bench/compaction.js                 (5,000,000 puts)
//   node dist/bench/compaction.js --num 1000000 --stores stratadb
//
// Figures: write amplification (bytes the process wrote to disk, /proc/self/io write_bytes
// less cancelled_write_bytes, over the bytes of keys and values put), space amplification after
// compactRange() (directory size over live keys x (16 + value bytes)), the highest level-0 file
// count sampled every 50 ms, write stall time (stratadb's own counter), and the event loop's
// delay p99 and max during the puts and the compaction (monitorEventLoopDelay, 10 ms resolution,
// which is subtracted), and compactRange()'s rate: the bytes of the table files (*.sst) when it
// starts over its time (both stores name their tables so).

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { open } from '../src/index.js';
import { loadPeer, PEERS_INSTALL_COMMAND } from './stores/peers.js';

const { values: args } = parseArgs({
  options: {
    num: { type: 'string', default: '5000000' },
    'value-size': { type: 'string', default: '100' },
    'in-flight': { type: 'string', default: '256' },
    stores: { type: 'string', default: 'stratadb,rocksdb' },
    dir: { type: 'string' },
    child: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(`node dist/bench/compaction.js [options]

N random puts (half of them overwrites), 256 in flight, then compactRange(), each store in a
process of its own; prints puts/s, compactRange() time and MB/s, write and space amplification.

  --num N           puts (default 5000000)
  --value-size N    value bytes (default 100)
  --in-flight N     puts in flight (default 256)
  --stores LIST     stratadb,rocksdb (default); rocksdb needs: ${PEERS_INSTALL_COMMAND}
  --dir DIR         where the databases go (default: the system's temporary directory)`);
  process.exit(0);
}
const num = Number(args.num);
const valueSize = Number(args['value-size']);
const inFlight = Number(args['in-flight']);
const LOOP_RESOLUTION_MS = 10;

interface Result {
  store: string;
  seconds: number;
  putsPerSecond: number;
  compactSeconds: number;
  /** Bytes of table files when compactRange() started, over its seconds. */
  compactMBps: number;
  /** CPU seconds the process spent (every thread) during compactRange(): less sensitive to a shared machine's load than its time. */
  compactCpuSeconds: number;
  liveKeys: number;
  userBytes: number;
  diskWriteBytes: number;
  writeAmplification: number;
  dirBytes: number;
  spaceAmplification: number;
  maxL0Files: number;
  stallMs: number | null;
  eventLoopP99Ms: number;
  eventLoopMaxMs: number;
}

interface Driver {
  put(key: Buffer, value: Buffer): Promise<unknown>;
  l0Files(): number;
  stallMs(): number | null;
  compact(): Promise<void>;
  close(): Promise<void>;
}

async function openStratadb(dir: string): Promise<Driver> {
  const db = await open(dir);
  return {
    put: (k, v) => db.put(k, v),
    l0Files: () => db.stats().levels[0]!.files,
    stallMs: () => db.stats().writeStallMs,
    compact: () => db.compactRange(),
    close: () => db.close(),
  };
}

type Callback = (err?: Error | null) => void;
interface RocksDb {
  open(options: object, cb: Callback): void;
  put(key: Buffer, value: Buffer, options: object, cb: Callback): void;
  compactRange(start: Buffer, end: Buffer, cb: Callback): void;
  getProperty(name: string): string;
  close(cb: Callback): void;
}
const call = (f: (cb: Callback) => void) => new Promise<void>((resolve, reject) => f((err) => (err ? reject(err) : resolve())));

async function openRocksdb(dir: string): Promise<Driver> {
  const rocksdb = loadPeer<(location: string) => RocksDb>('rocksdb');
  const db = rocksdb(dir);
  // The same budgets as stratadb's defaults: a 64 MiB memtable, a 32 MiB block cache.
  await call((cb) => db.open({ createIfMissing: true, writeBufferSize: 64 * 1024 * 1024, cacheSize: 32 * 1024 * 1024 }, cb));
  const noSync = { sync: false };
  return {
    put: (k, v) => call((cb) => db.put(k, v, noSync, cb)),
    l0Files: () => Number(db.getProperty('rocksdb.num-files-at-level0')),
    stallMs: () => null,
    compact: () => call((cb) => db.compactRange(Buffer.alloc(0), Buffer.alloc(64, 0xff), cb)),
    close: () => call((cb) => db.close(cb)),
  };
}

function ioWriteBytes(): number {
  const text = fs.readFileSync('/proc/self/io', 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  return field('write_bytes') - field('cancelled_write_bytes');
}

function sstBytes(dir: string): number {
  let n = 0;
  for (const name of fs.readdirSync(dir)) if (name.endsWith('.sst')) n += fs.statSync(path.join(dir, name)).size;
  return n;
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const name of fs.readdirSync(dir)) {
    const st = fs.statSync(path.join(dir, name));
    n += st.isDirectory() ? dirBytes(path.join(dir, name)) : st.size;
  }
  return n;
}

async function child(store: string, dir: string): Promise<Result> {
  const db = store === 'stratadb' ? await openStratadb(dir) : await openRocksdb(dir);
  const delay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  delay.enable();
  let maxL0 = 0;
  const sampler = setInterval(() => (maxL0 = Math.max(maxL0, db.l0Files())), 50);
  const ioBefore = ioWriteBytes();
  // Half the puts write a new key (in random order), half overwrite a key already written.
  const distinct = Math.ceil(num / 2);
  const order = new Uint32Array(distinct);
  for (let i = 0; i < distinct; i++) order[i] = i;
  for (let i = distinct - 1; i > 0; i--) {
    const j = (Math.random() * (i + 1)) | 0;
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const values = Array.from({ length: 1024 }, () => {
    const v = Buffer.alloc(valueSize);
    for (let j = 0; j < valueSize / 2; j++) v[j] = (Math.random() * 256) | 0;
    return v;
  });
  let written = 0;
  let issued = 0;
  const started = performance.now();
  const writer = async () => {
    while (issued < num) {
      const i = issued++;
      const overwrite = written > 0 && (written >= distinct || Math.random() < 0.5);
      const k = overwrite ? order[(Math.random() * written) | 0]! : order[written++]!;
      await db.put(Buffer.from(String(k).padStart(16, '0'), 'latin1'), values[i & 1023]!);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, writer));
  const seconds = (performance.now() - started) / 1000;
  const tableBytes = sstBytes(dir);
  const cpuBefore = process.cpuUsage();
  const compactStarted = performance.now();
  await db.compact();
  const compactSeconds = (performance.now() - compactStarted) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  clearInterval(sampler);
  maxL0 = Math.max(maxL0, db.l0Files());
  const stallMs = db.stallMs();
  await db.close();
  delay.disable();
  const diskWriteBytes = ioWriteBytes() - ioBefore;
  const userBytes = num * (16 + valueSize);
  const bytes = dirBytes(dir);
  return {
    store,
    seconds,
    putsPerSecond: num / seconds,
    compactSeconds,
    compactMBps: tableBytes / 1e6 / compactSeconds,
    compactCpuSeconds: (cpu.user + cpu.system) / 1e6,
    liveKeys: written,
    userBytes,
    diskWriteBytes,
    writeAmplification: diskWriteBytes / userBytes,
    dirBytes: bytes,
    spaceAmplification: bytes / (written * (16 + valueSize)),
    maxL0Files: maxL0,
    stallMs,
    // The histogram records the interval between its timer's firings: an idle loop shows the
    // resolution itself, so the delay is that much less.
    eventLoopP99Ms: Math.max(0, delay.percentile(99) / 1e6 - LOOP_RESOLUTION_MS),
    eventLoopMaxMs: Math.max(0, delay.max / 1e6 - LOOP_RESOLUTION_MS),
  };
}

if (args.child !== undefined) {
  const result = await child(args.child, args.dir!);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
} else {
  const self = fileURLToPath(import.meta.url);
  const base = fs.mkdtempSync(path.join(args.dir ?? os.tmpdir(), 'strata-compaction-bench-'));
  console.log(`${num.toLocaleString('en-US')} random puts, ${valueSize}-byte values, 50% overwrites, ${inFlight} in flight, then compactRange()`);
  const results: Result[] = [];
  try {
    for (const store of args.stores.split(',')) {
      const dir = path.join(base, store);
      const r = spawnSync(process.execPath, [self, '--child', store, '--dir', dir, '--num', String(num), '--value-size', String(valueSize), '--in-flight', String(inFlight)], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        maxBuffer: 1 << 20,
      });
      const line = /^RESULT (.*)$/m.exec(r.stdout ?? '')?.[1];
      if (line === undefined) {
        const missing = /not installed in bench\/peers/.test(r.stdout ?? '') || r.status !== 0;
        console.log(`${store}: failed (exit ${r.status})${missing && store !== 'stratadb' ? `; install the peers with: ${PEERS_INSTALL_COMMAND}` : ''}`);
        continue;
      }
      const res = JSON.parse(line) as Result;
      results.push(res);
      fs.rmSync(dir, { recursive: true, force: true });
      console.log(
        `${res.store.padEnd(9)} ${Math.round(res.putsPerSecond).toLocaleString('en-US').padStart(9)} puts/s  ` +
          `compactRange ${res.compactSeconds.toFixed(1)} s (${res.compactMBps.toFixed(0)} MB/s, CPU ${res.compactCpuSeconds.toFixed(1)} s)  write-amp ${res.writeAmplification.toFixed(2)}  ` +
          `space-amp ${res.spaceAmplification.toFixed(2)}  max L0 ${res.maxL0Files}  ` +
          `stalls ${res.stallMs === null ? 'n/a' : `${Math.round(res.stallMs)} ms`}  ` +
          `event loop p99 ${res.eventLoopP99Ms.toFixed(1)} ms (max ${res.eventLoopMaxMs.toFixed(0)} ms)`,
      );
    }
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
  const ours = results.find((r) => r.store === 'stratadb');
  const rocks = results.find((r) => r.store === 'rocksdb');
  if (ours && rocks) {
    console.log(
      `stratadb / rocksdb: puts/s ${(ours.putsPerSecond / rocks.putsPerSecond).toFixed(2)}  ` +
        `compactRange time ${(ours.compactSeconds / rocks.compactSeconds).toFixed(2)}  ` +
        `compactRange CPU ${(ours.compactCpuSeconds / rocks.compactCpuSeconds).toFixed(2)}  ` +
        `write amplification ${(ours.writeAmplification / rocks.writeAmplification).toFixed(2)}`,
    );
  }
}
