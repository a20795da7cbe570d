// The process that runs one workload on one store (forked by the bench with an IPC channel).
// Steps: receive the Job; build its inputs; open the store (timed, its disk writes counted
// apart); load what the workload needs (transfer's accounts; not timed); run the workload with every figure taken from the first operation; close the store
// (inside the disk-write and CPU window, outside the throughput window); measure the
// directory; send the JobResult and exit.

import type { ChildMessage, Job, JobResult } from './job.js';
import { prepareDriver, type DriverContext } from './drivers.js';
import { diskUsage, EventLoopMonitor, ioSince, LatencyRecorder, peakRssBytes, readIo, TimerProbe } from './measure.js';
import { STORES } from '../stores/index.js';
import { KEY_BYTES } from './keys.js';

const PROGRESS_EVERY_MS = 250;

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => process.send!(message, undefined, {}, () => resolve()));
}

async function runJob(job: Job): Promise<JobResult> {
  const driver = prepareDriver(job);
  const module = STORES[job.store];

  const openIo = readIo();
  let t = performance.now();
  const store = await module.open(job.dir, { durable: job.sync, shards: job.shards });
  const openMs = performance.now() - t;
  const openDiskWriteBytes = ioSince(openIo).writeBytes;

  await driver.setup?.(store);
  const ctx: DriverContext = { store, job, latency: new LatencyRecorder(), progress: { done: 0 } };
  const reporter = setInterval(() => void send({ type: 'progress', done: ctx.progress.done, total: job.ops }), PROGRESS_EVERY_MS);
  const eventLoop = new EventLoopMonitor();
  const timer = new TimerProbe();
  const io = readIo();
  const cpu = process.cpuUsage();
  eventLoop.start();
  timer.start();
  t = performance.now();
  const outcome = await driver.run(ctx);
  const seconds = (performance.now() - t) / 1000;
  const timerFirings = timer.stop();
  const loopDelay = eventLoop.stop();
  clearInterval(reporter);

  const storeStats = store.stats();
  t = performance.now();
  await store.close();
  const closeMs = performance.now() - t;
  const written = ioSince(io);
  const cpuUsed = process.cpuUsage(cpu);
  const disk = diskUsage(job.dir);
  const liveKeys = job.effect === 'adds' ? job.keySpace + outcome.ops : job.effect === 'removes' ? job.keySpace - outcome.ops : job.keySpace;
  const liveBytes = liveKeys * (KEY_BYTES + job.valueBytes);

  return {
    store: job.store,
    id: job.id,
    setup: job.setup,
    ops: outcome.ops,
    plannedOps: job.ops,
    inFlight: job.workload === 'fillbatch' || job.workload === 'readseq' || job.workload === 'bulkload' ? 1 : job.inFlight,
    sync: job.sync,
    seconds,
    opsPerSec: outcome.opsPerSec ?? outcome.ops / seconds,
    mbPerSec: outcome.userBytes / seconds / 1e6,
    latency: ctx.latency.summary(outcome.latencyPer),
    userWriteBytes: outcome.userWriteBytes,
    diskWriteBytes: written.writeBytes - written.cancelledWriteBytes,
    cancelledWriteBytes: written.cancelledWriteBytes,
    writeAmplification: outcome.userWriteBytes > 0 ? (written.writeBytes - written.cancelledWriteBytes) / outcome.userWriteBytes : null,
    sizeOnDiskBytes: disk.allocatedBytes,
    liveKeys,
    liveBytes,
    spaceAmplification: liveBytes > 0 ? disk.allocatedBytes / liveBytes : null,
    peakRssBytes: peakRssBytes(),
    eventLoop: loopDelay,
    timer: timerFirings,
    cpuSeconds: (cpuUsed.user + cpuUsed.system) / 1e6,
    openMs,
    openDiskWriteBytes,
    closeMs,
    ...(outcome.found !== undefined ? { found: outcome.found } : {}),
    ...(outcome.writes !== undefined ? { writes: outcome.writes } : {}),
    ...(outcome.retries !== undefined ? { retries: outcome.retries } : {}),
    ...(outcome.feed !== undefined ? { feed: outcome.feed } : {}),
    ...(outcome.phases !== undefined ? { phases: outcome.phases } : {}),
    storeStats,
  };
}

process.once('message', (job: Job) => {
  runJob(job).then(
    async (result) => {
      await send({ type: 'result', result });
      process.exit(0);
    },
    async (err: unknown) => {
      await send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      process.exit(1);
    },
  );
});
