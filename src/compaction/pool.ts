// BackgroundPool: runs the engine's background work, flushes (flush-job.ts) and compactions
// (job.ts), on worker threads, so that reading, merging, compressing and writing tables stay
// off the application's event loop.
//
// Protocol, one job at a time per worker (worker.ts answers):
//   main → worker  JobRequest  { id, job: CompactionJob | FlushJob | IngestJob }
//   worker → main  JobReply    { id, result: JobResult } | { id, error: WorkerError }
// Both are structured-cloned. A StrataError crosses as { code, message, errno } and is rebuilt
// here, so callers branch on the same codes either way; any other error is a bug in stratadb
// and crosses as code 'INTERNAL', rebuilt as a plain Error carrying the worker's stack.
//
// Invariants: 1. at most `workers` threads, started lazily, each running at most one job;
// jobs wait in FIFO order for a free one, flushes ahead of compactions. 2. a thread is
// ref()ed exactly while it runs a job, so an idle pool never keeps the process alive.
// 3. every job runFlush() or runCompaction() accepts settles exactly once: with the worker's
// reply, or with IO_ERROR if its thread dies first (the dead thread is dropped and a new one
// starts when a job needs it). 4. close() settles only after every accepted job has.
// 5. a thread's JavaScript heap is capped (resourceLimits.maxOldGenerationSizeMb, option
// compactionWorkerHeapBytes): a job that needs more fails alone, with IO_ERROR (errno ENOMEM)
// naming the cap, as invariant 3 says; the thread is replaced when a job needs one. Job data
// (memtables, blocks, tables) lives in buffers outside that heap. 6. a thread started for a
// compaction runs `nice` steps below the priority of the thread that started it (on Linux,
// where setpriority(2) is per thread: the application's threads keep theirs; set by the thread
// itself before its first job; elsewhere, or where that fails, it runs as it is); one started
// for a flush or an ingest runs at that priority, as RocksDB's high- and low-priority pools:
// writers wait for flushes, and a flush held back keeps its memtable in memory. A flush goes
// to an idle thread of its own priority first, else starts one, else takes any idle thread;
// a compaction likewise with the low ones. A thread's priority never changes (an unprivileged
// thread cannot raise its own).

import { Worker } from 'node:worker_threads';
import { closedError, invalidArgument, loadChecksum, NodeFileSystem, osErrno, priorityBelowThisThread, StrataError, type ErrorCode, type FileSystem, type ThreadPriority } from '../base/index.js';
import type { BuilderScratch } from '../sstable/index.js';
import { flushMemtable, type FlushJob, type FlushResult } from './flush-job.js';
import { buildIngestTable, type IngestJob, type IngestResult } from './ingest-job.js';
import { compactTables, type CompactionJob, type CompactionResult } from './job.js';

/** What a worker runs. A FlushJob says kind: 'flush', an IngestJob 'ingest'; a CompactionJob has no kind. */
export type Job = CompactionJob | FlushJob | IngestJob;
type JobResult = CompactionResult | FlushResult | IngestResult;

const isFlush = (job: Job): job is FlushJob => (job as { kind?: string }).kind === 'flush';
const isIngest = (job: Job): job is IngestJob => (job as { kind?: string }).kind === 'ingest';

/** Runs `job` on this thread. */
export function runJob(job: Job, fs: FileSystem, scratch?: BuilderScratch): Promise<JobResult> {
  if (isIngest(job)) return buildIngestTable(job, fs, scratch);
  return isFlush(job) ? flushMemtable(job, fs, scratch) : compactTables(job, fs, scratch);
}

export interface JobRequest {
  id: number;
  job: Job;
}

export interface WorkerError {
  /** A StrataError's code, or INTERNAL for any other error (a bug). */
  code: ErrorCode | 'INTERNAL';
  message: string;
  errno: string | undefined;
  /** The worker's stack, kept for INTERNAL errors. */
  stack: string | undefined;
}

/** `heapBytes`: the thread's JavaScript heap after the job (v8 total_heap_size), for stats. */
export type JobReply = { id: number; heapBytes: number; result: JobResult; error?: undefined } | { id: number; heapBytes: number; error: WorkerError };

/**
 * Each worker thread's young generation, in MiB. A job's young objects are short-lived (per
 * block, per entry): V8's default lets the young generation grow to tens of MiB per thread,
 * resident for the thread's life; 4 MiB took two workers' heaps from 42 to 26 MiB in a
 * 600k-put fill with compactions.
 */
const WORKER_YOUNG_GENERATION_MB = 4;

/** The default cap of each worker thread's JavaScript heap (old generation), as option compactionWorkerHeapBytes's. */
export const WORKER_HEAP_LIMIT_BYTES = 64 * 1024 * 1024;

/** An error thrown in a worker, as it crosses postMessage. */
export function encodeWorkerError(err: unknown): WorkerError {
  if (err instanceof StrataError) return { code: err.code, message: err.message, errno: err.errno, stack: undefined };
  const message = err instanceof Error ? err.message : String(err);
  // An operating-system error that escaped ioError().
  const errno = osErrno(err);
  if (errno !== undefined) return { code: 'IO_ERROR', message, errno, stack: undefined };
  return { code: 'INTERNAL', message, errno: undefined, stack: err instanceof Error ? err.stack : undefined };
}

/** The error to reject with on this side for an error that crossed from a worker. */
export function decodeWorkerError(e: WorkerError): Error {
  if (e.code === 'INTERNAL') {
    const err = new Error(e.message);
    if (e.stack !== undefined) err.stack = `${e.stack}\n    (in a compaction worker thread)`;
    return err;
  }
  return new StrataError(e.code, e.message, e.errno === undefined ? {} : { errno: e.errno });
}

const WORKER_URL = new URL('./worker.js', import.meta.url).href;

/** What a thread is told when it starts (worker.ts reads it as its workerData). */
export interface WorkerSettings {
  /** Where the thread runs (invariant 6): lowered by itself before its first job. */
  priority: ThreadPriority;
}

interface Task {
  id: number;
  job: Job;
  resolve: (result: JobResult) => void;
  reject: (err: unknown) => void;
}

interface Slot {
  worker: Worker;
  task: Task | undefined;
  dead: boolean;
  /** The heap its last reply reported. */
  heapBytes: number;
  /** Whether it runs below the application's priority (invariant 6): started for a compaction. */
  low: boolean;
}

export class BackgroundPool {
  readonly #maxWorkers: number;
  /** The heap cap in MiB, as resourceLimits takes it. */
  readonly #heapLimitMb: number;
  /** Each thread's nice increment (invariant 6). */
  readonly #nice: number;
  readonly #slots: Slot[] = [];
  readonly #queue: Task[] = [];
  #nextId = 1;
  /** Jobs accepted by runFlush() and runCompaction() and not yet settled, queued ones included. */
  #running = 0;
  #drained: (() => void)[] = [];
  #closing: Promise<void> | undefined;

  /**
   * `workers`: threads to run jobs on, at most; 0 runs every job inline on the calling thread.
   * `heapLimitBytes`: each thread's old-generation cap (invariant 5), at least 1 MiB.
   * `nice`: how many steps below the starting thread's priority a thread started for a
   * compaction runs (invariant 6), 0 to 19; default 0.
   */
  constructor(options: { workers: number; heapLimitBytes?: number; nice?: number }) {
    const { workers, heapLimitBytes = WORKER_HEAP_LIMIT_BYTES, nice = 0 } = options;
    if (!Number.isInteger(nice) || nice < 0 || nice > 19) throw invalidArgument(`nice must be an integer from 0 to 19, not ${nice}`);
    this.#nice = nice;
    if (!Number.isInteger(workers) || workers < 0) throw invalidArgument(`workers must be a non-negative integer, not ${workers}`);
    if (!Number.isSafeInteger(heapLimitBytes) || heapLimitBytes < 1 << 20) throw invalidArgument(`heapLimitBytes must be an integer of at least 1 MiB, not ${heapLimitBytes}`);
    this.#maxWorkers = workers;
    this.#heapLimitMb = Math.ceil(heapLimitBytes / (1 << 20));
  }

  /** Threads running now, and the heaps they reported after their last jobs (stats' memory). */
  get memory(): { threads: number; heapBytes: number } {
    return { threads: this.#slots.length, heapBytes: this.#slots.reduce((n, s) => n + s.heapBytes, 0) };
  }

  /** Writes a memtable to a level-0 table (flushMemtable), ahead of every queued compaction; as #run says. */
  runFlush(job: FlushJob, fs: FileSystem): Promise<FlushResult> {
    return this.#run(job, fs) as Promise<FlushResult>;
  }

  /** Builds one table of an ingest (buildIngestTable), after the jobs queued before it; as #run says. */
  runIngest(job: IngestJob, fs: FileSystem): Promise<IngestResult> {
    return this.#run(job, fs) as Promise<IngestResult>;
  }

  /** Runs a compaction (compactTables); as #run says. */
  runCompaction(job: CompactionJob, fs: FileSystem): Promise<CompactionResult> {
    return this.#run(job, fs) as Promise<CompactionResult>;
  }

  /** How many jobs on `fs` can run side by side: the thread limit, or 1 when they run inline (#run). */
  parallelism(fs: FileSystem): number {
    return this.#maxWorkers === 0 || !isPlainNodeFileSystem(fs) ? 1 : this.#maxWorkers;
  }

  /** Jobs accepted and not yet settled, including those waiting for a thread. */
  get running(): number {
    return this.#running;
  }

  /** Waits for every accepted job to settle, then terminates the threads. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#running > 0) await new Promise<void>((resolve) => this.#drained.push(resolve));
      const slots = this.#slots.splice(0);
      await Promise.all(slots.map((s) => s.worker.terminate()));
    })();
    return this.#closing;
  }

  /**
   * Runs `job` on a worker thread; inline instead when the pool has no workers or `fs` is not
   * a NodeFileSystem (a custom FileSystem, such as a fault-injecting one, cannot cross to a
   * thread, and no file operation may bypass it). An error from a worker is rebuilt as a
   * StrataError with the same code, message and errno. Fails with CLOSED after close().
   */
  #run(job: Job, fs: FileSystem): Promise<JobResult> {
    if (this.#closing !== undefined) return Promise.reject(closedError('background pool'));
    this.#running++;
    const settled = this.#maxWorkers === 0 || !isPlainNodeFileSystem(fs) ? runInline(job, fs) : this.#enqueue(job);
    return settled.finally(() => this.#settled());
  }

  #settled(): void {
    if (--this.#running > 0) return;
    for (const resolve of this.#drained.splice(0)) resolve();
  }

  #enqueue(job: Job): Promise<JobResult> {
    return new Promise<JobResult>((resolve, reject) => {
      // A flush goes first: writers may be waiting for it, and it frees memory.
      const task = { id: this.#nextId++, job, resolve, reject };
      if (isFlush(job)) this.#queue.unshift(task);
      else this.#queue.push(task);
      this.#dispatch();
    });
  }

  /** Hands queued jobs to idle threads, starting threads up to the limit. */
  #dispatch(): void {
    while (this.#queue.length > 0) {
      // Invariant 6: a thread of the job's own priority, a new one, or any idle thread.
      const low = this.#nice > 0 && !isFlush(this.#queue[0]!.job) && !isIngest(this.#queue[0]!.job);
      let slot = this.#slots.find((s) => s.task === undefined && s.low === low);
      if (slot === undefined && this.#slots.length >= this.#maxWorkers) slot = this.#slots.find((s) => s.task === undefined);
      if (slot === undefined) {
        if (this.#slots.length >= this.#maxWorkers) return;
        try {
          slot = this.#start(low);
        } catch (err) {
          // No thread for the job at the head (out of threads or memory): it fails, and the
          // next one tries again, so no job waits on a thread that will never exist.
          this.#queue.shift()!.reject(workerStartError(err));
          continue;
        }
      }
      const task = this.#queue.shift()!;
      slot.task = task;
      slot.worker.ref();
      try {
        // An ingest job's buffers are shared, or handed over (the caller gave them up): never copied.
        const transfer = isIngest(task.job) ? [task.job.data.buffer, task.job.ends.buffer].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer) : [];
        slot.worker.postMessage({ id: task.id, job: task.job } satisfies JobRequest, transfer);
      } catch (err) {
        // The job could not be cloned: the caller's bug, and the thread is still fine.
        slot.task = undefined;
        slot.worker.unref();
        task.reject(err);
      }
    }
  }

  #start(low: boolean): Slot {
    // No execArgv: the thread inherits the process's Node options as Node parsed them, flags
    // that Node refuses in an explicit execArgv (V8's --max-old-space-size, process-wide ones
    // like --report-directory) included. The entry is a string, not the file: Node refuses to
    // start a file under an inherited --input-type (`node --input-type=module -e ...`), and
    // import() reads the same as a script or a module, whichever --input-type asks for.
    const worker = new Worker(`import(${JSON.stringify(WORKER_URL)})`, {
      eval: true,
      resourceLimits: { maxOldGenerationSizeMb: this.#heapLimitMb, maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
      workerData: { priority: priorityBelowThisThread(low ? this.#nice : 0) } satisfies WorkerSettings,
    });
    const slot: Slot = { worker, task: undefined, dead: false, heapBytes: 0, low };
    worker.on('message', (reply: JobReply) => {
      const task = slot.task;
      if (task === undefined || task.id !== reply.id) return;
      slot.heapBytes = reply.heapBytes;
      slot.task = undefined;
      worker.unref();
      if (reply.error !== undefined) task.reject(decodeWorkerError(reply.error));
      else task.resolve(reply.result);
      this.#dispatch();
    });
    const died = (why: string, errno?: string) => {
      if (slot.dead) return;
      slot.dead = true;
      const at = this.#slots.indexOf(slot);
      if (at >= 0) this.#slots.splice(at, 1);
      const task = slot.task;
      slot.task = undefined;
      if (task !== undefined) task.reject(new StrataError('IO_ERROR', `compaction worker thread died during job ${task.id}: ${why}`, errno === undefined ? {} : { errno }));
      // A replacement starts only if a queued job needs it.
      this.#dispatch();
    };
    worker.on('error', (err) => {
      if ((err as { code?: unknown }).code === 'ERR_WORKER_OUT_OF_MEMORY') {
        died(`its JavaScript heap reached the cap of ${this.#heapLimitMb} MiB (resourceLimits.maxOldGenerationSizeMb)`, 'ENOMEM');
      } else {
        died(err instanceof Error ? err.message : String(err));
      }
    });
    worker.on('messageerror', (err) => {
      // The thread is fine; only this reply was lost.
      const task = slot.task;
      if (task === undefined) return;
      slot.task = undefined;
      worker.unref();
      task.reject(new StrataError('IO_ERROR', `the reply to compaction job ${task.id} could not be deserialized: ${err.message}`));
      this.#dispatch();
    });
    worker.on('exit', (code) => died(`exited with code ${code}`));
    this.#slots.push(slot);
    return slot;
  }
}

/** Why a job got no thread: Node could not start one (ERR_WORKER_INIT_FAILED: out of threads). */
function workerStartError(err: unknown): StrataError {
  const detail = err instanceof Error ? err.message : String(err);
  return new StrataError('IO_ERROR', `could not start a compaction worker thread: ${detail}`, { cause: err, errno: osErrno(err) ?? 'EIO' });
}

/**
 * True only for an unmodified NodeFileSystem, which a worker can recreate. A subclass, or an
 * object built on one with some methods replaced (a test's fault injector), is still an
 * instanceof NodeFileSystem, yet its overrides would be bypassed on another thread.
 */
function isPlainNodeFileSystem(fs: FileSystem): boolean {
  return Object.getPrototypeOf(fs) === NodeFileSystem.prototype && Reflect.ownKeys(fs).length === 0;
}

async function runInline(job: Job, fs: FileSystem): Promise<JobResult> {
  await loadChecksum();
  return runJob(job, fs);
}
