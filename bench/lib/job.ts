// What the bench's parent process sends to the child that runs one workload on one store, and
// what comes back. One workload a process, so that peak memory, I/O counters and the heap
// belong to that workload alone.

import type { StoreName } from '../stores/index.js';
import type { LatencySummary } from './measure.js';

export interface Job {
  store: StoreName;
  /** The workload as planned: 'fillseq', 'fillsync-64', ... */
  id: string;
  /** Its driver: 'fillsync' for 'fillsync-64'. */
  workload: string;
  dir: string;
  /** Operations to run (for readseq: the entries the database should hold). */
  ops: number;
  inFlight: number;
  valueBytes: number;
  sync: boolean;
  /**
   * Keys the database holds before the workload. The main database holds key numbers
   * fillOrder[0..keySpace-1], where fillOrder is fillrandom's order of `fillOps` keys: a
   * fillrandom stopped early by the time limit leaves a prefix of it.
   */
  keySpace: number;
  fillOps: number;
  /** How the workload changes the number of keys: for space amplification and the next jobs. */
  effect: 'adds' | 'keeps' | 'removes';
  /** A run that only prepares the database for later ones: not reported. */
  setup: boolean;
  /** Stop issuing operations after this many seconds (0: no limit). */
  maxSeconds: number;
  shards: number;
  /** Seed of the run; each workload derives its own from it. */
  seed: number;
  /** --reads: the reads of each of clearrange's read phases. */
  reads: number;
  /** readlarge-into: reads through Store.getInto into one reused buffer. */
  into: boolean;
}

export interface JobResult {
  store: StoreName;
  id: string;
  setup: boolean;
  ops: number;
  /** The operations planned; more than ops when the time limit stopped the run. */
  plannedOps: number;
  inFlight: number;
  sync: boolean;
  seconds: number;
  opsPerSec: number;
  /** User bytes (keys and values) written or read per second, in MB (10^6 bytes). */
  mbPerSec: number;
  latency: LatencySummary;
  /** Keys and values written by the workload. */
  userWriteBytes: number;
  /**
   * Bytes written to the disk from the first operation through close(): write_bytes of
   * /proc/self/io less its cancelled_write_bytes (dirty pages of files truncated or deleted
   * before the kernel wrote them back: a log deleted after its flush and never synced).
   */
  diskWriteBytes: number;
  /** cancelled_write_bytes of /proc/self/io over the same span (already taken off diskWriteBytes). */
  cancelledWriteBytes: number;
  writeAmplification: number | null;
  /** Allocated bytes under the store's directory after close (du). */
  sizeOnDiskBytes: number;
  /** Keys after the workload, times key and value bytes. */
  liveKeys: number;
  liveBytes: number;
  spaceAmplification: number | null;
  peakRssBytes: number;
  /** Event-loop delay beyond the monitor's 10 ms resolution; null when the loop never turned. */
  eventLoop: { p99Ms: number | null; maxMs: number | null; meanMs: number | null; samples: number };
  /** A 1 ms timer during the run: how often it fired, and the longest wait between two firings (the end counts as one). */
  timer: { firingsPerSec: number; maxGapMs: number };
  /** This process's CPU time (user + system, every thread) from the first operation through close(). */
  cpuSeconds: number;
  openMs: number;
  /** write_bytes during open (stratadb flushes the WAL it replays into a table there). */
  openDiskWriteBytes: number;
  closeMs: number;
  /** readrandom, readwhilewriting: gets that found their key. */
  found?: number;
  /** readwhilewriting: puts its writer made meanwhile. */
  writes?: number;
  /** transfer: transactions run again after a conflict (retries / ops is the conflict rate). */
  retries?: number;
  /** changes: the writers without and with the feed, and the feed itself (drivers.ts, changes). */
  feed?: FeedFigures;
  /** clearrange, ttl: the figures of their phases (latencies in ms, rates in ops/s, sizes in bytes). */
  phases?: Record<string, number>;
  storeStats: Record<string, unknown>;
}

export interface FeedFigures {
  /** Puts per second of the phases without a feed, and with one (each over both its phases). */
  putsPerSecWithout: number;
  putsPerSecWith: number;
  /** 1 - with / without, in percent: what the feed costs the writers. */
  costPercent: number;
  /** Changes delivered per second while the writers ran (first put to last delivery). */
  changesPerSec: number;
  /** From a put's resolution to its change's delivery (0 when delivered first), in ms. */
  lagP50Ms: number;
  lagP99Ms: number;
  /**
   * Main-thread CPU per put without and with the feed, in µs (null where /proc does not tell):
   * what the writers' throughput is bound by, measured apart from the other processes' load.
   */
  cpuUsPerPutWithout: number | null;
  cpuUsPerPutWith: number | null;
  /** 1 - without / with CPU per put, in percent: the feed's cost by CPU time. */
  cpuCostPercent: number | null;
  /** Each phase's puts per second and main-thread CPU per put, in order (without, with, with, without). */
  phases: { feed: boolean; putsPerSec: number; cpuUsPerPut: number | null }[];
}

export type ChildMessage =
  | { type: 'progress'; done: number; total: number }
  | { type: 'result'; result: JobResult }
  | { type: 'error'; message: string };
