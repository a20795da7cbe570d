// The shared runner of the micro-benchmarks (tinybench): each task runs `opsPerCall`
// operations per call, so that the timer's cost vanishes, and prints one line: operations per
// second, nanoseconds per operation, the relative margin of error, and MB/s where the task
// moves bytes. One line per task, so that two runs compare side by side.
//
//   node dist/bench/micro/<file>.js [--time ms]        (every file: node dist/bench/micro/all.js)

import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';

export interface MicroTask {
  name: string;
  /** Operations one call of fn performs. */
  opsPerCall: number;
  /** Bytes one call processes, for MB/s; omit when bytes are not the point. */
  bytesPerCall?: number;
  fn: () => void;
}

const { values } = parseArgs({ options: { time: { type: 'string', default: '1000' } }, strict: false });
const TIME_MS = Number(values.time);

export async function runMicro(title: string, tasks: MicroTask[]): Promise<void> {
  console.log(`${title} (node ${process.version}, ${TIME_MS} ms a task)`);
  const bench = new Bench({ time: TIME_MS, warmupTime: Math.min(250, TIME_MS / 4), throws: true });
  for (const t of tasks) bench.add(t.name, t.fn);
  await bench.run();
  const width = Math.max(...tasks.map((t) => t.name.length));
  bench.tasks.forEach((task, i) => {
    const t = tasks[i]!;
    const r = task.result;
    if (r.state !== 'completed') {
      console.log(`  ${t.name.padEnd(width)}  ${r.state}${r.state === 'errored' ? `: ${r.error.message}` : ''}`);
      return;
    }
    const msPerCall = r.latency.mean;
    const opsPerSec = (t.opsPerCall / msPerCall) * 1000;
    const nsPerOp = (msPerCall * 1e6) / t.opsPerCall;
    const mbps = t.bytesPerCall === undefined ? '' : `  ${((t.bytesPerCall / msPerCall) * 1000 / 1e6).toFixed(0).padStart(6)} MB/s`;
    console.log(
      `  ${t.name.padEnd(width)}  ${Math.round(opsPerSec).toLocaleString('en-US').padStart(12)} ops/s  ${nsPerOp.toFixed(1).padStart(8)} ns/op  ±${r.latency.rme.toFixed(1)}%${mbps}`,
    );
  });
}

/** xorshift32, so that every run draws the same data. */
export function xorshift(seed: number): () => number {
  let s = seed | 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

/** `count` random keys of `bytes` each, in one slab. */
export function randomKeys(count: number, bytes: number, seed = 0x9e3779b9): Uint8Array[] {
  const next = xorshift(seed);
  const slab = new Uint8Array(count * bytes);
  for (let i = 0; i < slab.length; i++) slab[i] = next() & 0xff;
  return Array.from({ length: count }, (_, i) => slab.subarray(i * bytes, (i + 1) * bytes));
}

/** A 100-byte-style value: `bytes` long, its first half random and repeated, so LZ4 halves it. */
export function halfCompressible(bytes: number, seed = 7): Buffer {
  const next = xorshift(seed);
  const out = Buffer.alloc(bytes);
  const half = Math.ceil(bytes / 2);
  for (let i = 0; i < half; i++) out[i] = 32 + (next() % 95);
  out.copy(out, half, 0, bytes - half);
  return out;
}
