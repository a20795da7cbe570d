// Micro-benchmark of the memtable's hot paths: 1,000,000 adds of random 16-byte keys with
// 100-byte values into a fresh memtable, then 1,000,000 gets of random present keys.
// Prints one line per round so that two runs compare on one machine. Each rate is given by
// wall time and, in brackets, by this process's CPU time, which a busy shared machine
// disturbs less (it still counts the GC's helper threads).
//
//   npx tsc && node dist/bench/memtable.js [entries] [rounds]

import { MAX_SEQ, ValueKind } from '../src/base/index.js';
import { Memtable } from '../src/memtable/index.js';
import { xorshift } from './micro/harness.js';

const entries = Number(process.argv[2] ?? 1_000_000);
const rounds = Number(process.argv[3] ?? 3);
const KEY_BYTES = 16;
const VALUE_BYTES = 100;

function randomBytes(next: () => number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = next() & 0xff;
  return out;
}

const next = xorshift(0x9e3779b9);
const keySlab = randomBytes(next, entries * KEY_BYTES);
const valueSlab = randomBytes(next, 1024 + VALUE_BYTES);
const values = Array.from({ length: 1024 }, (_, i) => valueSlab.subarray(i, i + VALUE_BYTES));
// Keys to get, drawn at random from those added, copied into a slab of their own in the order
// they are read: a real get() brings its key fresh, and so should the benchmark. Each call
// gets a new view, as from a caller, so that no million long-lived views weigh on the GC.
const getSlab = new Uint8Array(entries * KEY_BYTES);
for (let i = 0; i < entries; i++) {
  const k = next() % entries;
  getSlab.set(keySlab.subarray(k * KEY_BYTES, (k + 1) * KEY_BYTES), i * KEY_BYTES);
}

const rate = (n: number, ms: number) => Math.round((n / ms) * 1000).toLocaleString('en-US');
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

console.log(`memtable: ${entries} random ${KEY_BYTES}-byte keys, ${VALUE_BYTES}-byte values, node ${process.version}`);
for (let round = 1; round <= rounds; round++) {
  const mem = new Memtable();
  let start = performance.now();
  let startCpu = cpuMs();
  for (let i = 0; i < entries; i++) {
    mem.add(i + 1, ValueKind.Put, keySlab.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES), values[i & 1023]!);
  }
  const addMs = performance.now() - start;
  const addCpuMs = cpuMs() - startCpu;

  start = performance.now();
  startCpu = cpuMs();
  let found = 0;
  for (let i = 0; i < entries; i++) {
    if (mem.get(getSlab.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES), MAX_SEQ) !== undefined) found++;
  }
  const getMs = performance.now() - start;
  const getCpuMs = cpuMs() - startCpu;
  if (found !== entries) throw new Error(`found ${found} of ${entries} keys`);

  const mib = (mem.approximateBytes / 2 ** 20).toFixed(1);
  console.log(
    `round ${round}: add ${rate(entries, addMs)}/s [cpu ${rate(entries, addCpuMs)}/s]  ` +
      `get ${rate(entries, getMs)}/s [cpu ${rate(entries, getCpuMs)}/s]  approximateBytes ${mib} MiB`,
  );
}
