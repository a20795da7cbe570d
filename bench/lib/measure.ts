// The figures taken around a workload, inside the process that runs it:
// - latency per operation, in an HDR histogram (nanoseconds recorded, microseconds reported);
// - bytes this process caused to be written to storage: write_bytes of /proc/self/io, which
//   Linux counts when a page cache page turns dirty (so a 100-byte fsynced write counts a 4 KiB
//   page) and which covers every thread of the process, the stores' native ones included, less
//   cancelled_write_bytes (dirty pages of files truncated or deleted before writeback);
// - the event loop's delay (perf_hooks.monitorEventLoopDelay);
// - peak resident memory (getrusage's maxrss, for the whole process: one workload a process);
// - the directory's size on disk, as du counts it (allocated blocks).

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';

export interface LatencySummary {
  /** What one recorded value is the latency of: 'operation', 'batch of 1000', ... */
  per: string;
  count: number;
  meanUs: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

export class LatencyRecorder {
  readonly #histogram = hdr.build({ bitBucketSize: 64, autoResize: true, numberOfSignificantValueDigits: 3 });

  /** Records one latency given in milliseconds (performance.now() differences). */
  record(ms: number): void {
    this.#histogram.recordValue(Math.max(1, Math.round(ms * 1e6)));
  }

  summary(per: string): LatencySummary {
    const h = this.#histogram;
    const us = (ns: number) => Math.round(ns / 10) / 100;
    return {
      per,
      count: h.totalCount,
      meanUs: us(h.mean),
      p50Us: us(h.getValueAtPercentile(50)),
      p99Us: us(h.getValueAtPercentile(99)),
      p999Us: us(h.getValueAtPercentile(99.9)),
      maxUs: us(h.maxValue),
    };
  }
}

export interface IoCounters {
  writeBytes: number;
  cancelledWriteBytes: number;
  readBytes: number;
}

/** This process's I/O counters; zeros where the kernel does not keep them. */
export function readIo(): IoCounters {
  let text: string;
  try {
    text = readFileSync('/proc/self/io', 'utf8');
  } catch {
    return { writeBytes: 0, cancelledWriteBytes: 0, readBytes: 0 };
  }
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  return { writeBytes: field('write_bytes'), cancelledWriteBytes: field('cancelled_write_bytes'), readBytes: field('read_bytes') };
}

export function ioSince(before: IoCounters): IoCounters {
  const now = readIo();
  return {
    writeBytes: now.writeBytes - before.writeBytes,
    cancelledWriteBytes: now.cancelledWriteBytes - before.cancelledWriteBytes,
    readBytes: now.readBytes - before.readBytes,
  };
}

/** Bytes allocated on disk to everything under `dir` (du's count), and the files' sizes. */
export function diskUsage(dir: string): { allocatedBytes: number; apparentBytes: number; files: number } {
  let allocatedBytes = 0;
  let apparentBytes = 0;
  let files = 0;
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else {
        const s = statSync(p);
        allocatedBytes += s.blocks * 512;
        apparentBytes += s.size;
        files++;
      }
    }
  };
  walk(dir);
  return { allocatedBytes, apparentBytes, files };
}

const LOOP_RESOLUTION_MS = 10;

/**
 * The event loop's delay. monitorEventLoopDelay records the time between its timer's
 * firings, so an idle loop shows the resolution itself: the delay is that minus the
 * resolution. No samples means the loop never turned while the timer was due (null).
 */
export class EventLoopMonitor {
  readonly #histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });

  start(): void {
    this.#histogram.reset();
    this.#histogram.enable();
  }

  /** Stops and returns the delays in milliseconds. */
  stop(): { p99Ms: number | null; maxMs: number | null; meanMs: number | null; samples: number } {
    const h = this.#histogram;
    h.disable();
    if (h.count === 0) return { p99Ms: null, maxMs: null, meanMs: null, samples: 0 };
    const ms = (ns: number) => Math.max(0, Math.round(ns / 1e4 - LOOP_RESOLUTION_MS * 100) / 100);
    return { p99Ms: ms(h.percentile(99)), maxMs: ms(h.max), meanMs: ms(h.mean), samples: h.count };
  }
}

/** A 1 ms interval timer: how often it fires while the workload runs, and its longest wait. */
export class TimerProbe {
  #fired = 0;
  #last = 0;
  #maxGap = 0;
  #started = 0;
  #timer: NodeJS.Timeout | undefined;

  start(): void {
    this.#started = this.#last = performance.now();
    this.#timer = setInterval(() => {
      const now = performance.now();
      this.#maxGap = Math.max(this.#maxGap, now - this.#last);
      this.#last = now;
      this.#fired++;
    }, 1);
  }

  stop(): { firingsPerSec: number; maxGapMs: number } {
    clearInterval(this.#timer);
    const now = performance.now();
    const maxGapMs = Math.max(this.#maxGap, now - this.#last);
    return { firingsPerSec: (this.#fired * 1000) / Math.max(1, now - this.#started), maxGapMs: Math.round(maxGapMs * 10) / 10 };
  }
}

/**
 * CPU time of this process's main thread (the JavaScript thread) so far, in milliseconds, from
 * /proc (10 ms ticks); undefined where /proc does not tell. On a shared machine it moves far
 * less than wall-clock throughput with the load of other processes.
 */
export function mainThreadCpuMs(): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name (which may hold spaces) start at state, field 3.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? ticks * 10 : undefined;
}

/** Peak resident set size of this process so far, in bytes. */
export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}
