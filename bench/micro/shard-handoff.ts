// Micro-benchmark (issue 17, item 2): what a shard's memtable insert costs the main thread
// inline, against handing the group's encoded batches to a worker that inserts them (the
// prototype of "each shard's memtable insert in a worker"). Puts of random 16-byte keys and
// 100-byte values, encoded as the commit pipeline encodes them (one batch each, framed into a
// group's buffer), in groups of --group writes.
//
//   node dist/bench/micro/shard-handoff.js [--puts N] [--group N]
//
// Prints, per way, the main thread's time per put (encoding included, as both pay it) and the
// wall time per put until the worker acknowledged the last group. A worker pays only where
// the main thread's time per put drops by more than the handoff adds, and a core is free.

import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { applyBatch, batchEncodedLength, encodeBatchInto, loadChecksum, ValueKind, type BatchEntry } from '../../src/base/index.js';
import { Memtable } from '../../src/memtable/index.js';
import { halfCompressible, randomKeys } from './harness.js';

if (!isMainThread) {
  let mem = new Memtable();
  parentPort!.on('message', (m: { bytes: Uint8Array; offsets: number[] } | 'reset') => {
    if (m === 'reset') {
      mem = new Memtable();
      return;
    }
    for (const at of m.offsets) applyBatch(m.bytes, at, mem);
    parentPort!.postMessage(m.offsets.length);
  });
} else {
  const { values: args } = parseArgs({ options: { puts: { type: 'string', default: '200000' }, group: { type: 'string', default: '40' } } });
  const puts = Number(args.puts);
  const group = Number(args.group);
  await loadChecksum();
  const keys = randomKeys(puts, 16);
  const value = halfCompressible(100);
  const entries: BatchEntry[][] = keys.map((key) => [{ kind: ValueKind.Put, key, value }]);

  /** Encodes puts [from, to) into one buffer, as a group's; returns it and the batches' offsets. */
  const encodeGroup = (from: number, to: number) => {
    let length = 0;
    for (let i = from; i < to; i++) length += batchEncodedLength(entries[i]!);
    const bytes = new Uint8Array(length);
    const offsets: number[] = [];
    let at = 0;
    for (let i = from; i < to; i++) {
      offsets.push(at);
      encodeBatchInto(bytes, at, i + 1, entries[i]!);
      at += batchEncodedLength(entries[i]!);
    }
    return { bytes, offsets };
  };

  const inline = () => {
    const mem = new Memtable();
    const started = performance.now();
    for (let from = 0; from < puts; from += group) {
      const { bytes, offsets } = encodeGroup(from, Math.min(puts, from + group));
      for (const at of offsets) applyBatch(bytes, at, mem);
    }
    const ms = performance.now() - started;
    return { mainUs: (ms * 1000) / puts, wallUs: (ms * 1000) / puts };
  };

  const worker = new Worker(fileURLToPath(import.meta.url));
  const handoff = async () => {
    worker.postMessage('reset');
    let acked = 0;
    const done = new Promise<void>((resolve) =>
      worker.on('message', function onAck(n: number) {
        acked += n;
        if (acked === puts) {
          worker.off('message', onAck);
          resolve();
        }
      }),
    );
    const elu0 = performance.eventLoopUtilization();
    const started = performance.now();
    let mainMs = 0;
    for (let from = 0; from < puts; from += group) {
      const t = performance.now();
      const { bytes, offsets } = encodeGroup(from, Math.min(puts, from + group));
      worker.postMessage({ bytes, offsets }, [bytes.buffer]);
      mainMs += performance.now() - t;
      // As the pipeline does between groups: give the loop a turn (acks come in).
      if ((from / group) % 16 === 15) await new Promise((r) => setImmediate(r));
    }
    await done;
    const wall = performance.now() - started;
    const elu = performance.eventLoopUtilization(elu0);
    return { mainUs: (Math.max(mainMs, 0) * 1000) / puts, wallUs: (wall * 1000) / puts, eluUs: (elu.active * 1000) / puts };
  };

  console.log(`shard handoff: ${puts.toLocaleString('en-US')} puts (16-byte keys, 100-byte values), groups of ${group}`);
  for (let round = 1; round <= 3; round++) {
    const a = inline();
    const b = await handoff();
    console.log(
      `round ${round}: inline main ${a.mainUs.toFixed(2)} µs/put; worker: main ${b.mainUs.toFixed(2)} µs/put ` +
        `(event loop busy ${b.eluUs.toFixed(2)} µs/put, acks included), wall ${b.wallUs.toFixed(2)} µs/put`,
    );
  }
  await worker.terminate();
}
