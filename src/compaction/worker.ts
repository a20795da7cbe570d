// The entry point of a worker thread that runs flushes and compactions (started by
// BackgroundPool, pool.ts, from the compiled worker.js). It answers each JobRequest with one
// JobReply and holds no state between jobs but buffers: the xxh32 instance that loadChecksum()
// sets up is a pure function, and `scratch` keeps the table builders' buffers from one table to
// the next (src/sstable/builder-scratch.ts).

import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { loadChecksum, lowerThisThread, NodeFileSystem } from '../base/index.js';
import { native } from '../base/native.js';
import { BuilderScratch } from '../sstable/index.js';
import { encodeWorkerError, runJob, type JobReply, type JobRequest, type WorkerSettings } from './pool.js';

const port = parentPort;
if (port === null) throw new Error('src/compaction/worker.js runs only as a worker thread started by BackgroundPool');
const scratch = new BuilderScratch();
// Invariant 6 of pool.ts.
lowerThisThread((workerData as WorkerSettings).priority);

port.on('message', (request: JobRequest) => {
  void answer(request).then((reply) => {
    try {
      port.postMessage(reply);
    } catch (err) {
      // A result that cannot be cloned is a bug here; say so rather than die without a word.
      port.postMessage({ id: request.id, heapBytes: reply.heapBytes, error: encodeWorkerError(err) } satisfies JobReply);
    }
  });
});

async function answer({ id, job }: JobRequest): Promise<JobReply> {
  const trimming = native.trimMemory === undefined ? undefined : setInterval(trimMemory, TRIM_EVERY_MS);
  try {
    // Resolves at once after the first job.
    await loadChecksum();
    const result = await runJob(job, new NodeFileSystem(), scratch);
    return { id, heapBytes: getHeapStatistics().total_heap_size, result };
  } catch (err) {
    return { id, heapBytes: getHeapStatistics().total_heap_size, error: encodeWorkerError(err) };
  } finally {
    clearInterval(trimming);
    trimMemory();
  }
}

/** How often a worker trims malloc's arenas while it runs a job (trimMemory). */
const TRIM_EVERY_MS = 250;

/**
 * Gives the free memory inside malloc's arenas back to the kernel, here, off the event loop,
 * after each job and every TRIM_EVERY_MS during one (about a millisecond each). Buffers are malloc'd by the thread that makes them and
 * freed when V8 collects them, in the middle of their arena, which glibc returns only from the
 * top: at the peak of a 20M-put fill's compactRange() two arenas held 43-62 MB each (README,
 * "Memory"). Trimmed after each job alone, that peak fell from 432-461 MB to 426: compactRange's
 * jobs are long.
 */
function trimMemory(): void {
  native.trimMemory?.();
}
